#pragma once

#include "mq/config/config.hpp"

namespace mq::api {

/// Runs mq-api until SIGTERM or SIGINT: migrates the schema if configured, serves HTTP on
/// http.host:http.port, relays the outbox; on the signal stops accepting connections,
/// lets requests in progress finish and exits. Returns the exit status.
int run(const config::app_config& cfg);

}  // namespace mq::api
