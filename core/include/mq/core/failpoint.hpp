#pragma once

// Failpoints: places where a test makes a process crash, to prove that a crash there
// loses and doubles nothing. Compiled only with MQ_FAILPOINTS (test builds; release
// images build without). MQ_FAILPOINT=<name>[:<n>][,...] in the environment arms them:
// the n-th time (default: the first) the process passes <name>, it kills itself with
// SIGKILL, exactly as `kill -9` would.

#include <string_view>

namespace mq::failpoint {

/// Counts a pass through `name`; dies if it is armed and due.
void hit(std::string_view name);

}  // namespace mq::failpoint

#ifdef MQ_FAILPOINTS
#define MQ_FAILPOINT(name) ::mq::failpoint::hit(name)
#else
#define MQ_FAILPOINT(name) ((void)0)
#endif
