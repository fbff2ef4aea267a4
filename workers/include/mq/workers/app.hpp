#pragma once

#include "mq/config/config.hpp"

namespace mq::workers {

/// Runs one worker replica until SIGTERM or SIGINT: migrates the schema if configured,
/// builds the actor system (consumer, dispatcher, Postgres and Redis writers, LLM caller),
/// then on the signal stops taking deliveries, waits up to worker.drain_seconds for
/// in-flight jobs, returns the rest to the broker, and exits. Returns the exit status.
int run(const config::app_config& cfg);

}  // namespace mq::workers
