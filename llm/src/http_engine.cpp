#include "mq/llm/http_engine.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "http1_pool.hpp"
#include "mq/core/http_server.hpp"
#include "mq/core/time.hpp"
#include "transfer.hpp"

namespace mq::llm {
namespace {

using clock_type = engine_clock;

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t bytes = size * n;
  t->saw_bytes();
  if (t->reply.body.size() + bytes > t->call.max_response_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->reply.body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  t->saw_bytes();
  std::string_view line(data, size * n);
  std::string name, value;
  if (http::split_header_line(line, name, value)) {
    t->reply.headers.emplace_back(std::move(name), std::move(value));
  } else if (line.rfind("HTTP/", 0) == 0) {
    t->reply.headers.clear();  // a new response (after 100-continue or a redirect)
  }
  return size * n;
}

struct global_init {
  global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

}  // namespace

// The engine thread runs epoll over curl's sockets (curl tells which through the socket
// callback) plus an eventfd that submit() writes to; curl_multi_socket_action() then
// does work only for sockets that are ready, so thousands of idle connections cost
// nothing per event.
//
// Transfers are spread over several multi handles, each with its own connection pool:
// to start a transfer, libcurl walks every connection of its pool to the same host, so
// one pool of 2,000 connections costs each call tens of thousands of instructions.
struct http_engine::impl {
  static constexpr std::uint32_t shard_count = 16;
  static constexpr std::uint64_t wake_key = ~std::uint64_t{0};

  /// One multi handle, its timer and how many transfers it runs.
  struct shard {
    impl* owner = nullptr;
    std::uint32_t index = 0;
    CURLM* multi = nullptr;
    long timer_ms = -1;  // curl's requested timeout; -1 = none
    clock_type::time_point timer_set{};
    std::size_t running = 0;
  };

  std::array<shard, shard_count> shards{};  // curl holds pointers to them
  int epfd = -1;
  int wakefd = -1;
  std::mutex mu;
  std::deque<std::unique_ptr<transfer>> incoming;
  bool stopping = false;
  std::atomic<std::size_t> count{0};
  // Engine thread only:
  std::unordered_set<CURL*> active;
  std::vector<CURL*> spare;  // reset easy handles for reuse
  std::vector<std::string> last_headers;
  std::shared_ptr<curl_slist> last_list;
  clock_type::time_point last_scan{};
  bool plain_http = true;              // http1_pool takes the URLs it can
  std::unique_ptr<http1_pool> plain;  // engine thread only
  std::thread thread;

  /// epoll's key for a socket: its shard in the high half, the descriptor in the low.
  static std::uint64_t socket_key(const shard& sh, curl_socket_t s) {
    return (std::uint64_t{sh.index} << 32) | static_cast<std::uint32_t>(s);
  }

  static int on_socket(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
    auto* sh = static_cast<shard*>(userp);
    const int epfd = sh->owner->epfd;
    epoll_event ev{};
    ev.data.u64 = socket_key(*sh, s);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, s, nullptr);
      curl_multi_assign(sh->multi, s, nullptr);
      return 0;
    }
    ev.events = (what & CURL_POLL_IN ? std::uint32_t{EPOLLIN} : 0u) | (what & CURL_POLL_OUT ? std::uint32_t{EPOLLOUT} : 0u);
    if (!socketp) {
      epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
      curl_multi_assign(sh->multi, s, sh);  // marks the socket as known
    } else {
      epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* sh = static_cast<shard*>(userp);
    sh->timer_ms = timeout_ms;
    sh->timer_set = clock_type::now();
    return 0;
  }

  /// The shard running the fewest transfers, the first of equals: calls one at a time
  /// keep reusing one connection, and many at once spread evenly.
  shard& least_busy() {
    shard* best = &shards.front();
    for (auto& sh : shards)
      if (sh.running < best->running) best = &sh;
    return *best;
  }

  /// The header list for `headers` (plus "Expect:": no 100-continue round trip before
  /// large bodies), built once per distinct set: calls of one client share theirs.
  std::shared_ptr<curl_slist> header_list(const std::vector<std::string>& headers) {
    if (headers == last_headers && last_list) return last_list;
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    list = curl_slist_append(list, "Expect:");
    last_headers = headers;
    last_list = std::shared_ptr<curl_slist>(list, curl_slist_free_all);
    return last_list;
  }

  CURL* easy_handle() {
    if (spare.empty()) return curl_easy_init();
    CURL* e = spare.back();
    spare.pop_back();
    return e;
  }

  void start(std::unique_ptr<transfer> t) {
    t->started = clock_type::now();
    if (plain_http && !(t = plain->start(std::move(t)))) return;
    CURL* easy = easy_handle();
    const auto& c = t->call;
    curl_easy_setopt(easy, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, c.method.c_str());
    if (c.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->call.body.data());  // owned by `t`
    }
    t->headers = header_list(c.headers);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers.get());
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(c.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(c.total_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    auto& sh = least_busy();
    t->shard = sh.index;
    ++sh.running;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t.release());
    curl_multi_add_handle(sh.multi, easy);
    active.insert(easy);
  }

  void abort_overdue() {
    auto now = clock_type::now();
    if (now - last_scan < std::chrono::milliseconds(25)) return;
    last_scan = now;
    std::vector<std::pair<CURL*, std::string>> late;
    for (CURL* easy : active) {
      transfer* t = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &t);
      auto why = t->overdue(now);
      if (!why.empty()) late.emplace_back(easy, std::move(why));
    }
    for (auto& [easy, why] : late) finish(easy, CURLE_OPERATION_TIMEDOUT, false, why);
    plain->scan(now);
  }

  void finish(CURL* easy, CURLcode code, bool aborted = false, const std::string& timeout_why = {}) {
    active.erase(easy);
    transfer* raw = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
    std::unique_ptr<transfer> t(raw);
    auto& sh = shards[t->shard];
    --sh.running;
    curl_multi_remove_handle(sh.multi, easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->reply.status);
    curl_easy_reset(easy);
    spare.push_back(easy);
    if (aborted) {
      t->reply.err = make_error(errc::unavailable, "client stopped");
    } else if (t->too_large) {
      t->reply.err = make_error(errc::payload_too_large, "response too large");
    } else if (!timeout_why.empty()) {
      t->reply.err = make_error(errc::timeout, timeout_why);
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      t->reply.err = make_error(errc::timeout, "call timed out", curl_easy_strerror(code));
    } else if (code != CURLE_OK) {
      t->reply.err = make_error(errc::network, "connection failed", curl_easy_strerror(code));
    }
    deliver(std::move(t));
  }

  /// Answers a finished call's caller, whichever pool ran it.
  void deliver(std::unique_ptr<transfer> t) {
    t->reply.latency = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t->started);
    --count;
    if (t->done) t->done(std::move(t->reply));
  }

  void collect() {
    int left = 0;
    for (auto& sh : shards)
      while (CURLMsg* m = curl_multi_info_read(sh.multi, &left))
        if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);
  }

  /// Milliseconds until `sh`'s timer fires (0: due), or -1 without one.
  static long timer_left(const shard& sh, clock_type::time_point now) {
    if (sh.timer_ms < 0) return -1;
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - sh.timer_set).count();
    return std::max<long>(0, sh.timer_ms - elapsed);
  }

  /// Lets curl act on the timers that are due.
  void fire_timers() {
    auto now = clock_type::now();
    int running = 0;
    for (auto& sh : shards)
      if (timer_left(sh, now) == 0) {
        sh.timer_ms = -1;
        curl_multi_socket_action(sh.multi, CURL_SOCKET_TIMEOUT, 0, &running);
      }
  }

  /// Milliseconds epoll may sleep: until curl's timer, and at most 25 ms while calls run
  /// (the first-byte and idle deadlines are scanned on wake-up).
  int wait_ms() const {
    long wait = active.empty() && !plain->busy() ? 1000 : 25;
    auto now = clock_type::now();
    for (const auto& sh : shards) {
      long left = timer_left(sh, now);
      if (left >= 0) wait = std::min(wait, left);
    }
    return static_cast<int>(wait);
  }

  void run() {
    std::vector<epoll_event> events(256);
    int running = 0;
    for (;;) {
      int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), wait_ms());
      for (int i = 0; i < n; ++i) {
        const std::uint64_t key = events[i].data.u64;
        if ((key & ~std::uint64_t{0xffffffffu}) == http1_pool::tag) {
          plain->on_event(key, events[i].events);
          continue;
        }
        if (key == wake_key) {
          std::uint64_t ignored;
          auto rc = read(wakefd, &ignored, sizeof ignored);
          (void)rc;
          continue;
        }
        int flags = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(shards[key >> 32].multi, static_cast<curl_socket_t>(key & 0xffffffffu), flags,
                                 &running);
      }
      std::deque<std::unique_ptr<transfer>> fresh;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
        fresh.swap(incoming);
      }
      for (auto& t : fresh) start(std::move(t));
      fire_timers();
      collect();
      abort_overdue();
    }
    // Abort whatever is left: in flight, then not yet started.
    auto left = active;
    for (CURL* easy : left) finish(easy, CURLE_ABORTED_BY_CALLBACK, true);
    plain->abort_all();
    std::deque<std::unique_ptr<transfer>> fresh;
    {
      std::lock_guard<std::mutex> lock(mu);
      fresh.swap(incoming);
    }
    for (auto& t : fresh) {
      --count;
      http_reply r;
      r.err = make_error(errc::unavailable, "client stopped");
      if (t->done) t->done(std::move(r));
    }
  }

  void wake() {
    std::uint64_t one = 1;
    auto rc = write(wakefd, &one, sizeof one);
    (void)rc;
  }
};

namespace {

/// Whether libcurl would send plain http calls through a proxy: then it takes them all.
bool proxy_configured() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"})
    if (const char* v = std::getenv(name); v && *v) return true;
  return false;
}

}  // namespace

http_engine::http_engine(transport how) : impl_(std::make_unique<impl>()) {
  static global_init once;
  auto& d = *impl_;
  d.plain_http = how == transport::automatic && !proxy_configured();
  for (std::uint32_t i = 0; i < impl::shard_count; ++i) {
    auto& sh = d.shards[i];
    sh.owner = &d;
    sh.index = i;
    sh.multi = curl_multi_init();
    curl_multi_setopt(sh.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(sh.multi, CURLMOPT_MAXCONNECTS, static_cast<long>(4096 / impl::shard_count));
    curl_multi_setopt(sh.multi, CURLMOPT_SOCKETFUNCTION, impl::on_socket);
    curl_multi_setopt(sh.multi, CURLMOPT_SOCKETDATA, &sh);
    curl_multi_setopt(sh.multi, CURLMOPT_TIMERFUNCTION, impl::on_timer);
    curl_multi_setopt(sh.multi, CURLMOPT_TIMERDATA, &sh);
  }
  d.epfd = epoll_create1(EPOLL_CLOEXEC);
  d.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = impl::wake_key;
  epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.wakefd, &ev);
  d.plain = std::make_unique<http1_pool>(d.epfd, [&d](std::unique_ptr<transfer> t) { d.deliver(std::move(t)); });
  d.thread = std::thread([this] { impl_->run(); });
}

http_engine::~http_engine() {
  stop();
  for (CURL* e : impl_->spare) curl_easy_cleanup(e);
  for (auto& sh : impl_->shards) curl_multi_cleanup(sh.multi);
  close(impl_->epfd);
  close(impl_->wakefd);
}

void http_engine::submit(http_call call, callback done) {
  auto t = std::make_unique<transfer>();
  t->call = std::move(call);
  t->done = std::move(done);
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) {
      http_reply r;
      r.err = make_error(errc::unavailable, "client stopped");
      if (t->done) t->done(std::move(r));
      return;
    }
    ++impl_->count;
    was_empty = impl_->incoming.empty();
    impl_->incoming.push_back(std::move(t));
  }
  if (was_empty) impl_->wake();  // otherwise a wake-up is already pending
}

std::size_t http_engine::in_flight() const { return impl_->count; }

void http_engine::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping && !impl_->thread.joinable()) return;
    impl_->stopping = true;
  }
  impl_->wake();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(v.c_str(), &end);
  if (end != v.c_str() && *end == '\0' && secs >= 0)
    return std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  if (auto when = parse_http_date(v)) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(*when - system_now());
    return d.count() > 0 ? d : std::chrono::milliseconds(0);
  }
  return std::nullopt;
}

}  // namespace mq::llm
