#pragma once

// mqctl's operator commands:
//
//   mqctl queues                                  depth and consumers of every queue, and the
//                                                 replicas alive (from their heartbeats)
//   mqctl dead-letters list --tenant NAME [--all] dead letters waiting for a replay (--all: every one)
//   mqctl dead-letters replay --tenant NAME (ID... | --all [--limit N]) [--wait]
//                                                 queue their tasks again; --wait shows a progress
//                                                 bar until they finish
//   mqctl batch show|wait|cancel --tenant NAME ID a batch's counts; a progress bar until it is
//                                                 done; cancel its unfinished tasks
//   mqctl task show --tenant NAME ID              a task as JSON
//
// Exit statuses as in common.hpp.

#include <optional>
#include <string>
#include <vector>

#include "mq/config/config.hpp"

namespace mq::cli {

/// Runs an operator command; nullopt when `args` names none of them.
std::optional<int> run_admin(const config::app_config& cfg, const std::vector<std::string>& args);

}  // namespace mq::cli
