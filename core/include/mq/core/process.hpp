#pragma once

namespace mq {

/// Raises the soft limit of open files to the hard limit (a replica holds thousands of
/// connections to its LLM provider). Returns the new soft limit.
long raise_fd_limit();

/// Lowers the CPU priority of the calling thread to `nice` (as nice(1) counts) and so of
/// every thread it starts afterwards: call it before starting any. False (errno set) when
/// the kernel refused.
bool lower_cpu_priority(int nice);

/// The project's version ("0.1.0").
const char* version();

}  // namespace mq
