#pragma once

namespace mq {

/// Raises the soft limit of open files to the hard limit (a replica holds thousands of
/// connections to its LLM provider). Returns the new soft limit.
long raise_fd_limit();

/// The project's version ("0.1.0").
const char* version();

}  // namespace mq
