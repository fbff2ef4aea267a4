#include "http1_pool.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include "mq/core/socket.hpp"

namespace mq::llm {

/// Where an `http://` URL points, when this pool can go there without a name lookup.
struct http1_pool::target {
  std::string origin;  // host[:port] as written: the Host header and the pool's key
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string path;  // path and query, "/" when empty
};

namespace {

namespace bhttp = boost::beast::http;

constexpr std::size_t max_idle_per_origin = 4096;
constexpr std::size_t read_chunk = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<http1_pool::target> parse_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.size() <= scheme.size() || !iequals(url.substr(0, scheme.size()), scheme)) return std::nullopt;
  url.remove_prefix(scheme.size());
  auto end = url.find_first_of("/?#");
  http1_pool::target t;
  auto authority = url.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  t.origin.assign(authority);
  std::string_view host, port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    auto rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    port = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon + 1);
  }
  unsigned long number = 80;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    number = std::stoul(std::string(port));
    if (number == 0 || number > 65535) return std::nullopt;
  }
  std::string name(iequals(host, "localhost") ? std::string_view("127.0.0.1") : host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&t.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
  if (inet_pton(AF_INET, name.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(number));
    t.addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, name.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(number));
    t.addr_len = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;  // a name: libcurl resolves it
  }
  if (end == std::string_view::npos) {
    t.path = "/";
  } else {
    auto rest = url.substr(end);
    rest = rest.substr(0, rest.find('#'));
    t.path = rest.empty() || rest.front() != '/' ? "/" + std::string(rest) : std::string(rest);
  }
  return t;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

error network(std::string message, int err = 0) {
  return make_error(errc::network, std::move(message), err ? std::strerror(err) : "");
}

}  // namespace

struct http1_pool::connection {
  std::uint32_t id = 0;
  int fd = -1;
  std::shared_ptr<const target> where;  // of the call it runs or ran last: its origin
  bool connected = false;
  bool reused = false;  // served a call before this one
  bool idle = false;    // on its origin's stack of idle connections
  std::unique_ptr<transfer> t;
  std::string head;  // request line and headers; the body is sent from t->call.body
  std::size_t sent = 0;
  std::string in;  // received bytes the parser has not taken yet
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;

  std::size_t request_size() const { return head.size() + t->call.body.size(); }

  void new_parser() {
    parser.emplace();  // not eager: Boost 1.74's eager parse skips the body limit
    parser->header_limit(64 * 1024);
    parser->body_limit(static_cast<std::uint64_t>(t->call.max_response_bytes));
    if (t->call.method == "HEAD") parser->skip(true);
  }
};

http1_pool::http1_pool(int epfd, finisher done) : epfd_(epfd), done_(std::move(done)) {}

http1_pool::~http1_pool() {
  for (auto& [id, c] : conns_) ::close(c->fd);
}

std::unique_ptr<transfer> http1_pool::start(std::unique_ptr<transfer> t) {
  if (t->call.url != last_url_) {
    auto where = parse_url(t->call.url);
    last_target_ = where ? std::make_shared<const target>(std::move(*where)) : nullptr;
    last_url_ = t->call.url;
  }
  if (!last_target_) return t;
  open(std::move(t), last_target_, false);
  return nullptr;
}

void http1_pool::open(std::unique_ptr<transfer> t, std::shared_ptr<const target> at, bool fresh_only) {
  const target& where = *at;
  auto finish = [&](error e) {
    t->reply.err = std::move(e);
    done_(std::move(t));
  };
  for (const auto& h : t->call.headers)
    if (h.find_first_of("\r\n") != std::string::npos) return finish(make_error(errc::internal, "a request header has a line break"));

  connection* c = nullptr;
  auto& stack = idle_[where.origin];
  if (!fresh_only && !stack.empty()) {
    c = stack.back();
    stack.pop_back();
    c->idle = false;
  } else {
    int fd = socket(where.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return finish(network("connection failed", errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&where.addr), where.addr_len);
    if (rc != 0 && errno != EINPROGRESS) {
      int err = errno;
      ::close(fd);
      return finish(network("connection failed", err));
    }
    auto owned = std::make_unique<connection>();
    owned->id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;
    owned->fd = fd;
    owned->connected = rc == 0;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tag | owned->id;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      int err = errno;
      ::close(fd);
      return finish(network("connection failed", err));
    }
    c = owned.get();
    conns_.emplace(c->id, std::move(owned));
  }

  const auto& call = t->call;
  c->head.clear();
  c->head.append(call.method).append(" ").append(where.path).append(" HTTP/1.1\r\nHost: ").append(where.origin).append("\r\n");
  for (const auto& h : call.headers) c->head.append(h).append("\r\n");
  if (!call.body.empty() || (call.method != "GET" && call.method != "HEAD"))
    c->head.append("Content-Length: ").append(std::to_string(call.body.size())).append("\r\n");
  c->head.append("\r\n");
  c->sent = 0;
  c->in.clear();
  c->t = std::move(t);
  c->where = std::move(at);
  c->new_parser();
  ++calls_;
  if (c->connected) send_request(*c);
}

void http1_pool::send_request(connection& c) {
  const auto& body = c.t->call.body;
  while (c.sent < c.request_size()) {
    std::array<iovec, 2> parts{};
    std::size_t n = 0;
    if (c.sent < c.head.size())
      parts[n++] = {const_cast<char*>(c.head.data() + c.sent), c.head.size() - c.sent};
    std::size_t body_from = c.sent > c.head.size() ? c.sent - c.head.size() : 0;
    if (body_from < body.size()) parts[n++] = {const_cast<char*>(body.data() + body_from), body.size() - body_from};
    msghdr msg{};
    msg.msg_iov = parts.data();
    msg.msg_iovlen = n;
    ssize_t wrote = sendmsg(c.fd, &msg, MSG_NOSIGNAL);
    if (wrote >= 0) {
      c.sent += static_cast<std::size_t>(wrote);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;  // the rest goes when the socket is writable again
    } else {
      return fail(c, network("connection failed", errno), c.reused);
    }
  }
}

void http1_pool::on_event(std::uint64_t key, std::uint32_t events) {
  auto it = conns_.find(static_cast<std::uint32_t>(key));
  if (it == conns_.end()) return;  // closed earlier in this round
  connection& c = *it->second;
  if (!c.t) {
    // Idle: the server closed it, or sent what nobody asked for.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close(c);
    return;
  }
  if (!c.connected) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(c, network("connection failed", err), false);
    if (connected_to_itself(c.fd)) return fail(c, network("connection failed", ECONNREFUSED), false);
    c.connected = true;
  }
  if (c.sent < c.request_size()) {
    if (!(events & EPOLLOUT)) return;
    const auto id = c.id;
    send_request(c);
    if (!conns_.count(id) || c.sent < c.request_size()) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) receive(c);
}

void http1_pool::receive(connection& c) {
  static thread_local std::array<char, read_chunk> scratch;
  for (;;) {
    ssize_t n = recv(c.fd, scratch.data(), scratch.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return fail(c, network("connection failed", errno), c.reused && !c.t->got_byte);
    }
    if (n == 0) {
      auto& p = *c.parser;
      if (p.is_header_done() && p.need_eof()) {
        boost::beast::error_code ec;
        p.put_eof(ec);
        if (!ec && p.is_done()) return complete(c, false);
      }
      return fail(c, network("the server closed the connection before its answer was complete"),
                  c.reused && !c.t->got_byte);
    }
    c.t->saw_bytes();
    // Parse straight from the scratch buffer unless a partial head waits in c.in.
    std::string_view data(scratch.data(), static_cast<std::size_t>(n));
    if (!c.in.empty()) {
      c.in.append(data);
      data = c.in;
    }
    std::size_t used = 0;
    while (used < data.size()) {
      boost::beast::error_code ec;
      used += c.parser->put(boost::asio::buffer(data.data() + used, data.size() - used), ec);
      if (ec == bhttp::error::need_more) break;
      if (ec == bhttp::error::body_limit) return fail(c, make_error(errc::payload_too_large, "response too large"), false);
      if (ec) return fail(c, network("malformed answer"), false);
      if (!c.parser->is_done()) continue;
      const int status = c.parser->get().result_int();
      if (status >= 100 && status < 200 && status != 101) {
        c.new_parser();  // an interim answer (100 Continue): the real one follows
        continue;
      }
      return complete(c, used == data.size());  // bytes past the answer: not reusable
    }
    if (data.data() == c.in.data()) c.in.erase(0, used);
    else c.in.assign(data.substr(used));
  }
}

void http1_pool::fail(connection& c, error e, bool may_retry) {
  auto t = std::move(c.t);
  --calls_;
  auto where = c.where;
  close(c);
  if (may_retry) return open(std::move(t), std::move(where), true);  // a kept-alive connection the server had dropped
  t->reply.err = std::move(e);
  done_(std::move(t));
}

void http1_pool::complete(connection& c, bool keep) {
  auto msg = c.parser->release();
  auto t = std::move(c.t);
  --calls_;
  t->reply.status = msg.result_int();
  t->reply.body = std::move(msg.body());
  for (const auto& f : msg) {
    const auto name = f.name_string();
    const auto value = f.value();
    t->reply.headers.emplace_back(lower(std::string_view(name.data(), name.size())), std::string(value.data(), value.size()));
  }
  auto& stack = idle_[c.where->origin];
  if (keep && msg.keep_alive() && stack.size() < max_idle_per_origin) {
    c.parser.reset();
    c.reused = true;
    c.idle = true;
    stack.push_back(&c);
  } else {
    close(c);
  }
  done_(std::move(t));
}

void http1_pool::close(connection& c) {
  if (c.idle) {
    auto& stack = idle_[c.where->origin];
    auto it = std::find(stack.begin(), stack.end(), &c);
    if (it != stack.end()) stack.erase(it);
  }
  ::close(c.fd);  // leaves the epoll set with it
  conns_.erase(c.id);
}

void http1_pool::scan(engine_clock::time_point now) {
  std::vector<std::pair<std::uint32_t, std::string>> late;
  for (const auto& [id, c] : conns_) {
    if (!c->t) continue;
    const auto& call = c->t->call;
    const auto age = now - c->t->started;
    if (!c->connected && age > call.connect_timeout)
      late.emplace_back(id, "no connection within " + std::to_string(call.connect_timeout.count()) + " ms");
    else if (age > call.total_timeout)
      late.emplace_back(id, "call took longer than " + std::to_string(call.total_timeout.count()) + " ms");
    else if (auto why = c->t->overdue(now); !why.empty())
      late.emplace_back(id, std::move(why));
  }
  for (auto& [id, why] : late) {
    auto it = conns_.find(id);
    if (it != conns_.end()) fail(*it->second, make_error(errc::timeout, why), false);
  }
}

void http1_pool::abort_all() {
  std::vector<std::uint32_t> ids;
  for (const auto& [id, c] : conns_) {
    ids.push_back(id);
    c->idle = false;
  }
  idle_.clear();
  for (auto id : ids) {
    auto& c = *conns_.at(id);
    if (c.t) fail(c, make_error(errc::unavailable, "client stopped"), false);
    else close(c);
  }
}

}  // namespace mq::llm
