#pragma once

// What the fault suite's tests share: a batch to run through the faults and the closing
// count each of them makes.

#include <rapidjson/document.h>

#include <string>

#include "stack.hpp"

namespace mq::test {

/// `n` new meetings queued with queue-unclassified as one batch; returns the 202 answer.
rapidjson::Document queue_batch(stack& s, const std::string& key, int n);

/// Tasks that succeeded.
long long succeeded(stack& s);

/// The closing count: `accepted` results, one per meeting, nothing else in any state,
/// nothing dead-lettered, nothing left in the queue; records the count (record_counts).
void expect_exactly_once(stack& s, int accepted, const std::string& what);

/// Records the closing count as test properties (accepted, results, failed,
/// duplicates, dead_letters) for the fault report.
void record_counts(stack& s, int accepted);

/// Whether a process::wait() status is a clean exit 0.
bool exited_zero(int status);

/// One classification task of a new meeting made dead: workers armed to crash after
/// their claim take it until the broker gives it up (the stack runs with
/// MQ_AMQP_DELIVERY_LIMIT=1 and no workers); then those workers are stopped and a clean
/// one records the dead letter. Returns the task's id.
std::string make_dead_task(stack& s, const std::string& key);

}  // namespace mq::test
