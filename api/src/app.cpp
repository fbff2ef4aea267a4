#include "mq/api/app.hpp"

#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "mq/core/http_server.hpp"
#include "mq/core/ids.hpp"
#include "mq/core/log.hpp"
#include "mq/core/process.hpp"
#include "mq/schemas/validator.hpp"
#include "outbox.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

http::response parse_failure_response(http::parse_failure why) {
  error e;
  switch (why) {
    case http::parse_failure::body_too_large:
      e = make_error(errc::payload_too_large, "request body exceeds the configured limit");
      break;
    case http::parse_failure::header_too_large:
      e = make_error(errc::payload_too_large, "request headers too large");
      break;
    case http::parse_failure::bad_request:
      e = make_error(errc::malformed_json, "malformed HTTP request");
      break;
  }
  http::response r;
  auto id = new_uuid();
  r.status = why == http::parse_failure::header_too_large ? 431 : http_status(e.code);
  r.body = error_body(e, id);
  r.headers.emplace_back("X-Request-ID", id);
  r.headers.emplace_back("Connection", "close");
  return r;
}

}  // namespace

int run(const config::app_config& cfg) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  raise_fd_limit();  // one descriptor per client connection

  if (cfg.postgres.migrate_on_start) {
    store::pg_session session(cfg.postgres.conninfo());
    for (int attempt = 1;; ++attempt) {
      auto st = session.migrate(cfg.postgres.schema);
      if (st) break;
      if (st.err().code != errc::unavailable || attempt >= 30) {
        log::error("api", "migration failed", {}, {{"error", st.err().internal}});
        return 1;
      }
      log::warn("api", "database unavailable; retrying migration", {});
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

  schemas::compile_schemas();
  services s(cfg);
  router r;
  add_all_routes(r);
  declare_api_metrics();

  // One event loop per I/O thread: a connection stays on its loop, so answering a poll
  // never crosses threads (see http::server).
  // Each loop reads the cache over a Redis connection of its own.
  std::vector<std::unique_ptr<boost::asio::io_context>> loops;
  std::vector<boost::asio::io_context*> loop_ptrs;
  std::vector<std::unique_ptr<store::redis_reader>> readers;
  for (int i = 0; i < std::max(cfg.http.threads, 1); ++i) {
    loops.push_back(std::make_unique<boost::asio::io_context>(1));
    loop_ptrs.push_back(loops.back().get());
    readers.push_back(std::make_unique<store::redis_reader>(*loops.back(), cfg.redis));
  }
  http::server_options opts;
  opts.host = cfg.http.host;
  opts.port = static_cast<std::uint16_t>(cfg.http.port);
  // Uploads may be larger than JSON bodies, which parse_body() holds to their own limit.
  opts.body_limit = static_cast<std::uint64_t>(std::max<std::int64_t>(cfg.http.body_limit_bytes, cfg.documents.max_bytes));
  opts.idle_timeout = std::chrono::seconds(cfg.http.idle_timeout_seconds);
  opts.on_parse_failure = parse_failure_response;
  http::server server(loop_ptrs, opts, [&s, &r](http::request&& req, http::responder respond) {
    r.dispatch(s, std::move(req), std::move(respond));
  });
  try {
    server.start();
  } catch (const std::exception& e) {
    log::error("api", "cannot listen", {}, {{"error", e.what()}, {"port", std::to_string(cfg.http.port)}});
    return 1;
  }
  outbox_relay relay(s);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < loops.size(); ++i)
    threads.emplace_back([loop = loops[i].get(), reader = readers[i].get()] {
      services::use_reader(reader);
      loop->run();
      services::use_reader(nullptr);
    });
  log::info("api", "listening", {}, {{"host", cfg.http.host}, {"port", std::to_string(server.port())}});

  int sig = 0;
  sigwait(&signals, &sig);
  log::info("api", "shutting down", {}, {{"signal", std::to_string(sig)}});
  server.stop();
  relay.stop();
  s.db.stop();     // finishes the queries already accepted
  s.publisher.stop();
  s.cache.stop();
  for (auto& loop : loops) loop->stop();
  for (auto& t : threads) t.join();
  readers.clear();  // before their loops
  return 0;
}

}  // namespace mq::api
