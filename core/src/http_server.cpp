#include "mq/core/http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <algorithm>
#include <array>
#include <boost/optional.hpp>
#include <cctype>

#include "mq/core/log.hpp"

namespace mq::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

std::string request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

bool request::query_param(std::string_view name, std::string& out) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    auto eq = part.find('=');
    auto key = url_decode(part.substr(0, eq));
    if (key == name) {
      out = eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1));
      return true;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return false;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool split_header_line(std::string_view line, std::string& name, std::string& value) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  name.assign(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto v = line.substr(colon + 1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  value.assign(v);
  return true;
}

const char* reason_phrase(int status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status)).data();
}

namespace {

using loop_executor = net::io_context::executor_type;
using socket_type = net::basic_stream_socket<tcp, loop_executor>;
using clock = std::chrono::steady_clock;

/// What every connection needs; shared so a session may outlive the server object.
struct shared_state {
  server_options opts;
  handler on_request;
};

class session;

/// One event loop's connections, for the idle sweep. Touched only on the loop's thread.
struct loop_state {
  explicit loop_state(net::io_context& io) : io(io), sweep(io) {}
  net::io_context& io;
  net::steady_timer sweep;
  std::vector<std::weak_ptr<session>> sessions;
  bool sweeping = false;
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(socket_type&& socket, std::shared_ptr<const shared_state> shared, loop_state& loop)
      : socket_(std::move(socket)), shared_(std::move(shared)), opts_(shared_->opts), loop_(loop) {
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_address_ = ep.address().to_string();
  }

  /// Starts reading on the session's loop.
  void run() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->loop_.sessions.push_back(self);
      self->read();
    });
  }

  /// Closes the connection when a read or write has waited longer than the idle timeout
  /// (a request being handled is not timed). On the loop's thread.
  bool expired(clock::time_point now) {
    if (phase_ == phase::handling || now - since_ < opts_.idle_timeout) return false;
    beast::error_code ec;
    socket_.close(ec);  // the pending operation completes with operation_aborted
    return true;
  }

 private:
  enum class phase { reading, handling, writing };

  void enter(phase p) {
    phase_ = p;
    since_ = clock::now();
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(opts_.body_limit);
    parser_->header_limit(opts_.header_limit);
    enter(phase::reading);
    bhttp::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof || ec == net::error::bad_descriptor)
      return close();
    if (ec) {
      parse_failure why = parse_failure::bad_request;
      if (ec == bhttp::error::body_limit) why = parse_failure::body_too_large;
      if (ec == bhttp::error::header_limit) why = parse_failure::header_too_large;
      if (!opts_.on_parse_failure) return close();
      keep_alive_ = false;
      return write(opts_.on_parse_failure(why));
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto qpos = req.target.find('?');
    req.path = req.target.substr(0, qpos);
    if (qpos != std::string::npos) req.query = req.target.substr(qpos + 1);
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    req.remote_address = remote_address_;
    enter(phase::handling);
    responder respond = [self = shared_from_this()](response r) {
      // On the loop's own thread (a handler that answered at once, or a reply that came
      // back on this loop) the write starts now; from another thread it is handed over.
      if (self->socket_.get_executor().running_in_this_thread()) return self->write(std::move(r));
      net::post(self->socket_.get_executor(), [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
    };
    try {
      shared_->on_request(std::move(req), std::move(respond));
    } catch (const std::exception& e) {
      log::error("http", "handler threw", {}, {{"error", e.what()}});
      close();
    }
  }

  /// The status line and headers built here, written with the body in one call: Beast's
  /// serializer walks a chain of buffer views per header, which cost more than the rest
  /// of answering a poll.
  void write(response r) {
    const bool bodiless = r.status / 100 == 1 || r.status == 204 || r.status == 304;
    head_.clear();
    head_.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(reason_phrase(r.status));
    head_.append("\r\nServer: mq\r\n");
    if (!r.content_type.empty()) head_.append("Content-Type: ").append(r.content_type).append("\r\n");
    for (const auto& [k, v] : r.headers) head_.append(k).append(": ").append(v).append("\r\n");
    if (!bodiless) head_.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    if (!keep_alive_) head_.append("Connection: close\r\n");
    head_.append("\r\n");
    body_ = bodiless ? std::string() : std::move(r.body);
    const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(body_)};
    enter(phase::writing);
    net::async_write(socket_, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->body_.clear();
      if (ec || !self->keep_alive_) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    enter(phase::handling);  // nothing left to time: the peer closes, or the socket goes
  }

  socket_type socket_;
  beast::flat_buffer buffer_;
  boost::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<const shared_state> shared_;
  const server_options& opts_;
  loop_state& loop_;
  phase phase_ = phase::reading;
  clock::time_point since_ = clock::now();
  bool keep_alive_ = false;
  std::string remote_address_;  ///< The peer's address, read once per connection.
  std::string head_;            ///< The response being written: status line and headers,
  std::string body_;            ///< and its body (kept until the write completes).
};

/// Every second, closes the loop's connections that waited too long; forgets the gone.
void sweep(loop_state& loop) {
  loop.sweep.expires_after(std::chrono::seconds(1));
  loop.sweep.async_wait([&loop](beast::error_code ec) {
    if (ec) return;
    const auto now = clock::now();
    auto& all = loop.sessions;
    all.erase(std::remove_if(all.begin(), all.end(),
                             [now](const std::weak_ptr<session>& w) {
                               auto s = w.lock();
                               return !s || s->expired(now);
                             }),
              all.end());
    sweep(loop);
  });
}

}  // namespace

struct server::impl {
  impl(std::vector<net::io_context*> ios, server_options o, handler h)
      : shared(std::make_shared<shared_state>(shared_state{std::move(o), std::move(h)})),
        acceptor(*ios.front()) {
    for (auto* io : ios) loops.push_back(std::make_unique<loop_state>(*io));
  }

  void accept() {
    auto& loop = *loops[next++ % loops.size()];
    acceptor.async_accept(loop.io, [this, &loop](beast::error_code ec, socket_type socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<session>(std::move(socket), shared, loop)->run();
      }
      accept();
    });
  }

  std::vector<std::unique_ptr<loop_state>> loops;
  std::shared_ptr<const shared_state> shared;
  net::basic_socket_acceptor<tcp, loop_executor> acceptor;
  std::size_t next = 0;
};

server::server(std::vector<net::io_context*> loops, server_options options, handler h)
    : impl_(std::make_unique<impl>(std::move(loops), std::move(options), std::move(h))) {}

server::server(net::io_context& io, server_options options, handler h)
    : server(std::vector<net::io_context*>{&io}, std::move(options), std::move(h)) {}

server::~server() = default;

void server::start() {
  tcp::endpoint ep{net::ip::make_address(impl_->shared->opts.host), impl_->shared->opts.port};
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(net::socket_base::max_listen_connections);
  for (auto& loop : impl_->loops) net::dispatch(loop->io, [l = loop.get()] { sweep(*l); });
  impl_->accept();
}

void server::stop() {
  net::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    for (auto& loop : impl_->loops) net::dispatch(loop->io, [l = loop.get()] { l->sweep.cancel(); });
  });
}

std::uint16_t server::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace mq::http
