#pragma once

namespace mq::test {

/// A TCP socket listening on 127.0.0.1 at a port the kernel picks, with `backlog`;
/// its port comes back in `port`. Throws if it cannot bind.
int listen_on_loopback(int backlog, int& port);

}  // namespace mq::test
