// mq-load: an HTTP/1.1 load generator over keep-alive connections, on one thread.
//
//   mq-load --url http://127.0.0.1:8080 --paths FILE [--method POST] [--header "K: V"]...
//           [--rate R] [--duration S] [--connections C] [--body TEXT] [--latencies OUT]
//
// Open loop (--rate R > 0): request i is due at start + i/R whatever happened to the
// ones before it, and its latency runs from that due time to the last byte of the
// answer, so a stalled server shows up in the percentiles instead of slowing the
// generator down (no coordinated omission). Closed loop (--rate 0): every connection
// sends its next request as soon as the answer to the last one arrives.
// Paths come from FILE, one per line, each used once in order (and then again from the
// top). The clock starts once every connection is open: opening 128 at once held the
// first requests up by as much as 15 ms, which measured the connecting, not the server.
// Prints one JSON object: offered and achieved rates, statuses, latency percentiles.
// --latencies OUT also writes each answer's due time (microseconds from the start) and
// latency, one answer a line, to tell a steady tail from a few stalls.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  std::string paths_file;
  double rate = 0;        // requests per second; 0 = closed loop
  double duration = 5;    // seconds of sending
  int connections = 32;
  std::string latencies_file;  // where to write each answer's due time and latency
};

bool parse_url(const std::string& url, options& o) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  auto colon = hostport.find(':');
  o.host = hostport.substr(0, colon);
  o.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  return !o.host.empty();
}

/// The run: the due requests not yet sent, the measurements, the connections.
class generator {
 public:
  generator(net::io_context& io, options o, std::vector<std::string> paths)
      : io_(io), opts_(std::move(o)), paths_(std::move(paths)), tick_(io) {}

  void run() {
    tcp::resolver resolver(io_);
    endpoints_ = resolver.resolve(opts_.host, opts_.port);
    for (int i = 0; i < opts_.connections; ++i) conns_.push_back(std::make_shared<connection>(*this));
    opening_ = conns_.size();
    for (auto& c : conns_) c->open();
    io_.run();
  }

  /// Each answer's due time from the start and its latency, in microseconds; the first
  /// line gives the start on the monotonic clock (to line the answers up with a trace).
  void write_latencies(const std::string& file) const {
    std::ofstream out(file);
    out << "# start " << std::chrono::duration_cast<std::chrono::microseconds>(start_.time_since_epoch()).count()
        << " us on the monotonic clock; then per answer: due us from the start, latency us\n";
    for (std::size_t i = 0; i < latencies_us_.size(); ++i) out << due_offsets_us_[i] << ' ' << latencies_us_[i] << '\n';
  }

  void report() const {
    std::vector<std::uint32_t> lat = latencies_us_;
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
      if (lat.empty()) return 0.0;
      auto i = static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1));
      return lat[i] / 1000.0;
    };
    const double seconds = lat.empty() ? 0.0 : std::chrono::duration<double>(last_answer_ - start_).count();
    std::printf("{\"offered_rps\":%.1f,\"duration_s\":%.3f,\"connections\":%d,\"sent\":%llu,"
                "\"answered\":%zu,\"achieved_rps\":%.1f,\"errors\":%llu,\"unsent\":%zu,\"status\":{",
                opts_.rate, seconds, opts_.connections, static_cast<unsigned long long>(sent_),
                lat.size(), seconds > 0 ? static_cast<double>(lat.size()) / seconds : 0.0,
                static_cast<unsigned long long>(errors_), due_.size());
    bool first = true;
    for (const auto& [code, n] : statuses_) {
      std::printf("%s\"%d\":%llu", first ? "" : ",", code, static_cast<unsigned long long>(n));
      first = false;
    }
    std::printf("},\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
                pct(0.5), pct(0.9), pct(0.99), pct(0.999), lat.empty() ? 0.0 : lat.back() / 1000.0);
  }

 private:
  struct connection : std::enable_shared_from_this<connection> {
    explicit connection(generator& g) : g(g), socket(g.io_) {}

    void open() {
      net::async_connect(socket, g.endpoints_, [self = shared_from_this()](auto ec, const auto&) {
        if (ec) return self->g.fail(self);
        socket_ready(self);
      });
    }
    static void socket_ready(const std::shared_ptr<connection>& self) {
      self->socket.set_option(tcp::no_delay(true));
      self->idle = true;
      if (self->g.started_) self->g.next(self);
      else self->g.opened_one();
    }

    void send(std::string wire, clock_type::time_point due) {
      idle = false;
      this->due = due;
      out = std::move(wire);
      net::async_write(socket, net::buffer(out), [self = shared_from_this()](auto ec, std::size_t) {
        if (ec) return self->g.fail(self);
        self->receive();
      });
    }

    void receive() {
      parser.emplace();
      parser->body_limit(64 * 1024 * 1024);
      bhttp::async_read(socket, buffer, *parser, [self = shared_from_this()](auto ec, std::size_t) {
        if (ec) return self->g.fail(self);
        self->g.answered(self->parser->get().result_int(), self->due);
        if (!self->parser->get().keep_alive()) {
          self->socket.close();
          return self->reopen();
        }
        self->idle = true;
        self->g.next(self);
      });
    }

    void reopen() {
      socket = tcp::socket(g.io_);
      open();
    }

    generator& g;
    tcp::socket socket;
    boost::beast::flat_buffer buffer;
    boost::optional<bhttp::response_parser<bhttp::string_body>> parser;
    std::string out;
    clock_type::time_point due;
    bool idle = false;
  };

  std::string wire(std::size_t i) const {
    const auto& path = paths_[i % paths_.size()];
    std::string w = opts_.method + " " + path + " HTTP/1.1\r\nHost: " + opts_.host + "\r\n";
    for (const auto& h : opts_.headers) w += h + "\r\n";
    if (!opts_.body.empty() || opts_.method == "POST")
      w += "Content-Type: application/json\r\nContent-Length: " + std::to_string(opts_.body.size()) + "\r\n";
    w += "\r\n" + opts_.body;
    return w;
  }

  /// The clock starts once every connection is open (or failed to), so the time it takes
  /// to open 128 connections is not counted against the first requests' latency.
  void opened_one() {
    if (--opening_ > 0) return;
    started_ = true;
    start_ = clock_type::now();
    end_ = start_ + std::chrono::microseconds(static_cast<long long>(opts_.duration * 1e6));
    if (opts_.rate > 0) return schedule();
    for (auto& c : conns_)
      if (c->idle) next(c);
  }

  /// Open loop: every millisecond, the requests that fell due join the queue.
  void schedule() {
    auto now = clock_type::now();
    auto until = std::min(now, end_);
    const double per_us = opts_.rate / 1e6;
    for (;;) {
      auto due = start_ + std::chrono::microseconds(static_cast<long long>(static_cast<double>(made_) / per_us));
      if (due > until) break;
      due_.push_back(due);
      ++made_;
    }
    for (auto& c : conns_)
      if (c->idle && !due_.empty()) next(c);
    if (now >= end_) return maybe_done();
    tick_.expires_after(std::chrono::milliseconds(1));
    tick_.async_wait([this](auto ec) {
      if (!ec) schedule();
    });
  }

  void next(const std::shared_ptr<connection>& c) {
    clock_type::time_point due;
    if (opts_.rate > 0) {
      if (due_.empty()) return;  // stays idle until the next tick
      due = due_.front();
      due_.pop_front();
    } else {
      due = clock_type::now();
      if (due >= end_) return finish(c);
    }
    c->send(wire(sent_++), due);
  }

  void answered(int status, clock_type::time_point due) {
    last_answer_ = clock_type::now();
    ++statuses_[status];
    latencies_us_.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(last_answer_ - due).count()));
    if (!opts_.latencies_file.empty())
      due_offsets_us_.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(due - start_).count()));
    maybe_done();
  }

  /// Open loop: done once sending time is over and every request sent has its outcome.
  void maybe_done() {
    if (opts_.rate > 0 && clock_type::now() >= end_ && due_.empty() && made_ == sent_ &&
        latencies_us_.size() + errors_ == sent_)
      stop_all();
  }

  void fail(const std::shared_ptr<connection>& c) {
    ++errors_;
    if (!started_) {
      finish(c);
      return opened_one();
    }
    maybe_done();
    if (clock_type::now() >= end_) return finish(c);
    c->socket.close();
    c->reopen();
  }

  void finish(const std::shared_ptr<connection>& c) {
    c->idle = false;
    boost::system::error_code ec;
    c->socket.close(ec);
    if (++finished_ == conns_.size()) stop_all();
  }

  void stop_all() {
    tick_.cancel();
    for (auto& c : conns_) {
      boost::system::error_code ec;
      c->socket.close(ec);
    }
    io_.stop();
  }

  net::io_context& io_;
  options opts_;
  std::vector<std::string> paths_;
  net::steady_timer tick_;
  tcp::resolver::results_type endpoints_;
  std::vector<std::shared_ptr<connection>> conns_;
  std::deque<clock_type::time_point> due_;
  clock_type::time_point start_, end_, last_answer_;
  std::uint64_t made_ = 0, sent_ = 0, errors_ = 0;
  std::size_t finished_ = 0, opening_ = 0;
  bool started_ = false;
  std::map<int, std::uint64_t> statuses_;
  std::vector<std::uint32_t> latencies_us_;
  std::vector<std::uint32_t> due_offsets_us_;  ///< Kept only for --latencies.
};

int usage() {
  std::cerr << "usage: mq-load --url http://HOST:PORT --paths FILE [--method M] [--header 'K: V']...\n"
               "               [--body TEXT] [--rate R] [--duration S] [--connections C] [--latencies OUT]\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--url") {
      if (!parse_url(v, o)) return usage();
    } else if (a == "--paths") o.paths_file = v;
    else if (a == "--method") o.method = v;
    else if (a == "--header") o.headers.push_back(v);
    else if (a == "--body") o.body = v;
    else if (a == "--rate") o.rate = std::atof(v.c_str());
    else if (a == "--duration") o.duration = std::atof(v.c_str());
    else if (a == "--latencies") o.latencies_file = v;
    else if (a == "--connections") o.connections = std::max(1, std::atoi(v.c_str()));
    else return usage();
  }
  std::vector<std::string> paths;
  std::ifstream in(o.paths_file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) paths.push_back(line);
  if (paths.empty()) {
    std::cerr << "mq-load: no paths in '" << o.paths_file << "'\n";
    return 64;
  }
  net::io_context io(1);
  generator g(io, o, std::move(paths));
  g.run();
  g.report();
  if (!o.latencies_file.empty()) g.write_latencies(o.latencies_file);
  return 0;
}
