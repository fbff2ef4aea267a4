#include "mq/llm/curl_engine.hpp"

#include <curl/curl.h>

#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "mq/core/http_server.hpp"

namespace mq::llm {
namespace {

using clock_type = std::chrono::steady_clock;

struct transfer {
  http_call call;
  curl_engine::callback done;
  http_reply reply;
  curl_slist* headers = nullptr;
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

struct curl_engine::impl {
  CURLM* multi = nullptr;
  std::mutex mu;
  std::deque<std::unique_ptr<transfer>> incoming;
  bool stopping = false;
  std::atomic<std::size_t> count{0};
  std::unordered_set<CURL*> active;  // engine thread only
  clock_type::time_point last_scan{};
  std::thread thread;

  void start(std::unique_ptr<transfer> t) {
    CURL* easy = curl_easy_init();
    const auto& c = t->call;
    curl_easy_setopt(easy, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, c.method.c_str());
    if (c.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->call.body.data());  // owned by `t`
    }
    for (const auto& h : c.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    // No "Expect: 100-continue" round trip before large bodies.
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(c.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(c.total_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
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
    curl_easy_cleanup(easy);
    curl_slist_free_all(t->headers);
    t->reply.latency = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t->started);
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

  void run() {
    for (;;) {
      std::deque<std::unique_ptr<transfer>> fresh;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
        fresh.swap(incoming);
      }
      for (auto& t : fresh) start(std::move(t));
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left))
        if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);
      abort_overdue();
      // Wake at least every 25 ms while calls run, so stalled ones are caught in time.
      curl_multi_poll(multi, nullptr, 0, active.empty() ? 1000 : 25, nullptr);
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
};

curl_engine::curl_engine() : impl_(std::make_unique<impl>()) {
  static global_init once;
  impl_->multi = curl_multi_init();
  curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, 4096L);
  impl_->thread = std::thread([this] { impl_->run(); });
}

curl_engine::~curl_engine() {
  stop();
  curl_multi_cleanup(impl_->multi);
}

void curl_engine::submit(http_call call, callback done) {
  auto t = std::make_unique<transfer>();
  t->call = std::move(call);
  t->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) {
      http_reply r;
      r.err = make_error(errc::unavailable, "client stopped");
      if (t->done) t->done(std::move(r));
      return;
    }
    ++impl_->count;
    impl_->incoming.push_back(std::move(t));
  }
  curl_multi_wakeup(impl_->multi);
}

std::size_t curl_engine::in_flight() const { return impl_->count; }

void curl_engine::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping && !impl_->thread.joinable()) return;
    impl_->stopping = true;
  }
  curl_multi_wakeup(impl_->multi);
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace mq::llm
