#include "mq/store/redis_reader.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "mq/config/config.hpp"
#include "mq/core/log.hpp"
#include "mq/core/socket.hpp"

namespace mq::store {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
using socket_type = net::basic_stream_socket<tcp, net::io_context::executor_type>;

/// Appends one command in Redis's wire format (RESP): *N, then $len and each argument.
void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  out.append("*").append(std::to_string(args.size())).append("\r\n");
  for (auto a : args)
    out.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
}

}  // namespace

struct redis_reader::impl : std::enable_shared_from_this<impl> {
  /// A reply the connection owes: its callback (none for AUTH) and when to give up.
  struct waiting {
    callback done;
    clock::time_point deadline;
  };

  impl(net::io_context& loop, const config::redis_config& cfg,
       std::chrono::milliseconds retry_after)
      : loop(loop),
        host(cfg.host),
        port(std::to_string(cfg.port)),
        password(cfg.password),
        timeout(std::chrono::milliseconds(cfg.timeout_ms > 0 ? cfg.timeout_ms : 250)),
        retry_after(retry_after),
        resolver(loop),
        socket(loop),
        timer(loop),
        reader(redisReaderCreate()) {}

  ~impl() { redisReaderFree(reader); }

  void get(const std::string& key, callback done) {
    if (state == phase::down) {
      if (clock::now() < retry_at) return done(std::nullopt);
      connect();
    }
    append_command(out, {"GET", key});
    owed.push_back({std::move(done), clock::now() + timeout});
    watch();
    if (state == phase::up) schedule_flush();
  }

  void connect() {
    state = phase::connecting;
    const auto gen = ++generation;
    if (!password.empty()) {
      append_command(out, {"AUTH", password});
      owed.push_back({nullptr, clock::now() + timeout});
    }
    auto self = shared_from_this();
    auto on_connected = [this, self, gen](const boost::system::error_code& ec) {
      if (gen != generation) return;
      if (ec) return fail("connect: " + ec.message());
      if (connected_to_itself(socket.native_handle())) return fail("connect: nothing listens (connected to itself)");
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      state = phase::up;
      read();
      flush();
    };
    boost::system::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (!ec) {
      socket.async_connect(tcp::endpoint(address, static_cast<unsigned short>(std::stoi(port))),
                           on_connected);
      return;
    }
    resolver.async_resolve(host, port,
                           [this, self, gen, on_connected](const boost::system::error_code& ec,
                                                           tcp::resolver::results_type found) {
                             if (gen != generation) return;
                             if (ec) return fail("resolve: " + ec.message());
                             net::async_connect(
                                 socket, found,
                                 [on_connected](const boost::system::error_code& ec,
                                                const tcp::endpoint&) { on_connected(ec); });
                           });
  }

  /// Writes what accumulated at the end of this turn of the loop, so the reads of one
  /// turn share a write.
  void schedule_flush() {
    if (flush_posted || writing_now) return;
    flush_posted = true;
    net::post(loop, [this, self = shared_from_this(), gen = generation] {
      if (gen != generation) return;
      flush_posted = false;
      flush();
    });
  }

  void flush() {
    if (state != phase::up || writing_now || out.empty()) return;
    writing.swap(out);
    out.clear();
    writing_now = true;
    net::async_write(socket, net::buffer(writing),
                     [this, self = shared_from_this(), gen = generation](
                         const boost::system::error_code& ec, std::size_t) {
                       if (gen != generation) return;
                       writing_now = false;
                       writing.clear();
                       if (ec) return fail("write: " + ec.message());
                       flush();
                     });
  }

  void read() {
    socket.async_read_some(
        net::buffer(in), [this, self = shared_from_this(), gen = generation](
                             const boost::system::error_code& ec, std::size_t n) {
          if (gen != generation) return;
          if (ec) return fail("read: " + ec.message());
          redisReaderFeed(reader, in.data(), n);
          for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader, &raw) != REDIS_OK) return fail("protocol error");
            if (!raw) break;
            std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                               freeReplyObject);
            if (owed.empty()) return fail("a reply nobody asked for");
            auto w = std::move(owed.front());
            owed.pop_front();
            if (!w.done) {  // AUTH
              if (reply->type == REDIS_REPLY_ERROR) return fail(std::string("AUTH: ") + reply->str);
              continue;
            }
            if (reply->type == REDIS_REPLY_STRING)
              w.done(std::string(reply->str, reply->len));
            else
              w.done(std::nullopt);         // a miss, or an error such as OOM: Postgres answers
            if (gen != generation) return;  // a callback's get() found the connection gone
          }
          read();
        });
  }

  /// Keeps one timer on the oldest reply owed; when it is overdue, the connection fails.
  void watch() {
    if (timer_armed || owed.empty()) return;
    timer_armed = true;
    timer.expires_at(owed.front().deadline);
    timer.async_wait(
        [this, self = shared_from_this(), gen = generation](const boost::system::error_code& ec) {
          if (gen != generation) return;
          timer_armed = false;
          if (ec) return;
          if (!owed.empty() && owed.front().deadline <= clock::now())
            return fail("no reply within " + std::to_string(timeout.count()) + " ms");
          watch();
        });
  }

  /// Drops the connection; everything owed is answered nullopt (Postgres answers).
  void fail(const std::string& why) {
    if (state == phase::down) return;
    log::warn("redis", "cache reads unavailable", {}, {{"error", why}});
    state = phase::down;
    ++generation;  // handlers of the old connection ignore what they get
    retry_at = clock::now() + retry_after;
    boost::system::error_code ignored;
    socket.close(ignored);
    resolver.cancel();
    timer.cancel();
    redisReaderFree(reader);
    reader = redisReaderCreate();
    out.clear();
    writing.clear();
    writing_now = flush_posted = timer_armed = false;
    auto dropped = std::move(owed);
    owed.clear();
    for (auto& w : dropped)
      if (w.done) w.done(std::nullopt);
  }

  enum class phase { down, connecting, up };

  net::io_context& loop;
  const std::string host, port, password;
  const std::chrono::milliseconds timeout, retry_after;
  tcp::resolver resolver;
  socket_type socket;
  net::steady_timer timer;
  redisReader* reader;
  phase state = phase::down;
  std::uint64_t generation = 0;
  clock::time_point retry_at{};
  std::deque<waiting> owed;  ///< Replies expected, in the order the commands went out.
  std::string out;           ///< Commands not written yet.
  std::string writing;       ///< Commands being written.
  bool writing_now = false, flush_posted = false, timer_armed = false;
  std::array<char, 16384> in{};
};

redis_reader::redis_reader(net::io_context& loop, const config::redis_config& cfg,
                           std::chrono::milliseconds retry_after)
    : impl_(std::make_shared<impl>(loop, cfg, retry_after)) {}

redis_reader::~redis_reader() {
  // Pending handlers keep impl alive; they see a new generation and do nothing.
  ++impl_->generation;
  impl_->owed.clear();
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
  impl_->resolver.cancel();
  impl_->timer.cancel();
}

void redis_reader::get(const std::string& key, callback done) { impl_->get(key, std::move(done)); }

}  // namespace mq::store
