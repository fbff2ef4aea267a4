#include "mq/llm/curl_engine.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "mq/core/http_server.hpp"
#include "mq/core/time.hpp"

namespace mq::llm {
namespace {

using clock_type = std::chrono::steady_clock;

struct transfer {
  http_call call;
  curl_engine::callback done;
  http_reply reply;
  std::shared_ptr<curl_slist> headers;  // shared by transfers with the same headers
  clock_type::time_point started;
  clock_type::time_point last_byte;
  bool got_byte = false;
  bool too_large = false;
};

void saw_bytes(transfer* t) {
  t->got_byte = true;
  t->last_byte = clock_type::now();
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t bytes = size * n;
  saw_bytes(t);
  if (t->reply.body.size() + bytes > t->call.max_response_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->reply.body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  saw_bytes(t);
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
struct curl_engine::impl {
  CURLM* multi = nullptr;
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
  long timer_ms = -1;        // curl's requested timeout; -1 = none
  clock_type::time_point timer_set{};
  clock_type::time_point last_scan{};
  std::thread thread;

  static int on_socket(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
    auto* self = static_cast<impl*>(userp);
    epoll_event ev{};
    ev.data.fd = s;
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(self->epfd, EPOLL_CTL_DEL, s, nullptr);
      curl_multi_assign(self->multi, s, nullptr);
      return 0;
    }
    ev.events = (what & CURL_POLL_IN ? std::uint32_t{EPOLLIN} : 0u) | (what & CURL_POLL_OUT ? std::uint32_t{EPOLLOUT} : 0u);
    if (!socketp) {
      epoll_ctl(self->epfd, EPOLL_CTL_ADD, s, &ev);
      curl_multi_assign(self->multi, s, self);  // marks the socket as known
    } else {
      epoll_ctl(self->epfd, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<impl*>(userp);
    self->timer_ms = timeout_ms;
    self->timer_set = clock_type::now();
    return 0;
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
    t->started = clock_type::now();
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t.release());
    curl_multi_add_handle(multi, easy);
    active.insert(easy);
  }

  /// Why a transfer must be aborted now, or "" (first-byte and idle timeouts).
  static std::string overdue(const transfer& t, clock_type::time_point now) {
    if (!t.got_byte && now - t.started > t.call.first_byte_timeout)
      return "no answer within " + std::to_string(t.call.first_byte_timeout.count()) + " ms";
    if (t.got_byte && now - t.last_byte > t.call.idle_timeout)
      return "answer stalled for " + std::to_string(t.call.idle_timeout.count()) + " ms";
    return {};
  }

  void abort_overdue() {
    auto now = clock_type::now();
    if (now - last_scan < std::chrono::milliseconds(25)) return;
    last_scan = now;
    std::vector<std::pair<CURL*, std::string>> late;
    for (CURL* easy : active) {
      transfer* t = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &t);
      auto why = overdue(*t, now);
      if (!why.empty()) late.emplace_back(easy, std::move(why));
    }
    for (auto& [easy, why] : late) finish(easy, CURLE_OPERATION_TIMEDOUT, false, why);
  }

  void finish(CURL* easy, CURLcode code, bool aborted = false, const std::string& timeout_why = {}) {
    active.erase(easy);
    transfer* raw = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
    std::unique_ptr<transfer> t(raw);
    curl_multi_remove_handle(multi, easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->reply.status);
    curl_easy_reset(easy);
    spare.push_back(easy);
    t->reply.latency = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t->started);
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
    --count;
    if (t->done) t->done(std::move(t->reply));
  }

  void collect() {
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left))
      if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);
  }

  /// Milliseconds epoll may sleep: until curl's timer, and at most 25 ms while calls run
  /// (the first-byte and idle deadlines are scanned on wake-up).
  int wait_ms() const {
    long wait = active.empty() ? 1000 : 25;
    if (timer_ms >= 0) {
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - timer_set).count();
      wait = std::min<long>(wait, std::max<long>(0, timer_ms - elapsed));
    }
    return static_cast<int>(wait);
  }

  void run() {
    std::vector<epoll_event> events(256);
    int running = 0;
    for (;;) {
      int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), wait_ms());
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wakefd) {
          std::uint64_t ignored;
          auto rc = read(wakefd, &ignored, sizeof ignored);
          (void)rc;
          continue;
        }
        int flags = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi, events[i].data.fd, flags, &running);
      }
      std::deque<std::unique_ptr<transfer>> fresh;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
        fresh.swap(incoming);
      }
      for (auto& t : fresh) start(std::move(t));
      if (timer_ms >= 0 && wait_ms() == 0) {
        timer_ms = -1;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      collect();
      abort_overdue();
    }
    // Abort whatever is left: in flight, then not yet started.
    auto left = active;
    for (CURL* easy : left) finish(easy, CURLE_ABORTED_BY_CALLBACK, true);
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

curl_engine::curl_engine() : impl_(std::make_unique<impl>()) {
  static global_init once;
  auto& d = *impl_;
  d.multi = curl_multi_init();
  curl_multi_setopt(d.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(d.multi, CURLMOPT_MAXCONNECTS, 4096L);
  curl_multi_setopt(d.multi, CURLMOPT_SOCKETFUNCTION, impl::on_socket);
  curl_multi_setopt(d.multi, CURLMOPT_SOCKETDATA, &d);
  curl_multi_setopt(d.multi, CURLMOPT_TIMERFUNCTION, impl::on_timer);
  curl_multi_setopt(d.multi, CURLMOPT_TIMERDATA, &d);
  d.epfd = epoll_create1(EPOLL_CLOEXEC);
  d.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = d.wakefd;
  epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.wakefd, &ev);
  d.thread = std::thread([this] { impl_->run(); });
}

curl_engine::~curl_engine() {
  stop();
  for (CURL* e : impl_->spare) curl_easy_cleanup(e);
  curl_multi_cleanup(impl_->multi);
  close(impl_->epfd);
  close(impl_->wakefd);
}

void curl_engine::submit(http_call call, callback done) {
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

std::size_t curl_engine::in_flight() const { return impl_->count; }

void curl_engine::stop() {
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
