#include "mq/core/process.hpp"

#include <sys/resource.h>

namespace mq {

long raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return -1;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<long>(lim.rlim_cur);
}

bool lower_cpu_priority(int nice) {
  // On Linux a priority belongs to a thread, and new threads inherit their creator's.
  return setpriority(PRIO_PROCESS, 0, nice) == 0;
}

const char* version() { return MQ_VERSION; }

}  // namespace mq
