#pragma once

namespace mq {

/// Whether a connected TCP socket is connected to itself. A connect to a port inside the
/// kernel's ephemeral range while nothing listens there can be given that same port as its
/// local one (a TCP simultaneous open with itself). The socket then reads back what it
/// writes and holds the port, so the server cannot bind it when it comes back. Clients
/// check after connecting and close such a socket at once.
bool connected_to_itself(int fd);

}  // namespace mq
