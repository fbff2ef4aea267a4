// mqctl: administration from the shell. Reads the same configuration as the services.
//
//   mqctl migrate                  apply pending SQL migrations
//   mqctl tenant create <name>     create a tenant; prints its API key on the last line
//   mqctl key create <tenant>      add an API key to a tenant; prints it on the last line
//   mqctl token <tenant> [seconds] a JWT (HS256, api.jwt_secret) for the tenant, valid for
//                                  `seconds` (default 3600); prints it on the last line
//   mqctl seed-data [--tenant NAME] [--meetings N] [--days D] [--seed S]
//                                  synthetic meetings for load and KPI tests (seed_data.hpp)
//   mqctl topology delete          delete every queue and exchange under amqp.prefix
//                                  (messages in them are gone: for tests and benchmarks)
//   mqctl queues | dead-letters ... | batch ... | task ...
//                                  operator commands (admin.hpp)
//
// Exit statuses as in common.hpp (0 done, 1 refused, 64 usage, 66 not found, 69 a
// service unavailable, 78 a setting missing).

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "mq/config/config.hpp"
#include "mq/core/json.hpp"
#include "mq/core/jwt.hpp"
#include "mq/core/log.hpp"
#include "mq/queues/amqp.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/store/repositories.hpp"
#include "admin.hpp"
#include "common.hpp"
#include "seed_data.hpp"

namespace {

using mq::cli::report;

int usage() {
  return mq::cli::usage_error(
      "migrate | tenant create <name> | key create <tenant> | token <tenant> [seconds] | "
      "seed-data [--tenant NAME] [--meetings N] [--days D] [--seed S] | "
      "topology delete | queues | dead-letters list|replay --tenant NAME ... | "
      "batch show|wait|cancel --tenant NAME ID | task show --tenant NAME ID");
}

int print_key(const mq::result<mq::store::new_key>& k) {
  if (!k) return report(k.err());
  std::cout << "tenant: " << k->tenant_name << " (" << k->tenant_id << ")\n" << k->api_key << "\n";
  return 0;
}

int print_token(const mq::config::app_config& cfg, mq::store::pg_session& db, const std::vector<std::string>& args) {
  if (cfg.api.jwt_secret.empty()) {
    std::cerr << "mqctl: set MQ_API_JWT_SECRET to sign tokens\n";
    return 78;
  }
  long ttl = 3600;
  try {
    if (args.size() == 3) ttl = std::stol(args[2]);
  } catch (const std::exception&) {
    return usage();
  }
  if (ttl <= 0) return usage();
  auto id = mq::store::tenant_id_by_name(db, args[1]);
  if (!id) return report(id.err());
  if (!*id) return report(mq::make_error(mq::errc::not_found, "no tenant named " + args[1]));
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  mq::json::writer w;
  w.begin_object();
  w.kv("tenant_id", **id);
  w.kv("iat", static_cast<long long>(now));
  w.kv("exp", static_cast<long long>(now + ttl));
  if (!cfg.api.jwt_issuer.empty()) w.kv("iss", cfg.api.jwt_issuer);
  w.end_object();
  std::cout << "tenant: " << args[1] << " (" << **id << "), expires in " << ttl << " s\n"
            << mq::jwt::sign_hs256(w.take(), cfg.api.jwt_secret) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config") {
      ++i;
      continue;
    }
    args.push_back(a);
  }
  if (args.empty()) return usage();
  auto cfg = mq::config::load_or_exit(argc, argv, "mqctl");
  mq::log::set_level(mq::log::level::warn);
  if (args.size() == 2 && args[0] == "topology" && args[1] == "delete") {
    mq::queues::connection amqp(cfg.amqp, mq::queues::topology{cfg.amqp.prefix});
    if (auto st = amqp.open(); !st) return report(st.err());
    if (auto st = amqp.delete_topology(); !st) return report(st.err());
    std::cout << "deleted the queues and exchanges of prefix " << cfg.amqp.prefix << "\n";
    return 0;
  }
  if (auto code = mq::cli::run_admin(cfg, args)) return *code;
  mq::store::pg_session db(cfg.postgres.conninfo());
  if (args[0] == "migrate" && args.size() == 1) {
    auto st = db.migrate(cfg.postgres.schema);
    if (!st) return report(st.err());
    std::cout << "migrations applied to schema " << cfg.postgres.schema << "\n";
    return 0;
  }
  if (args.size() == 3 && args[0] == "tenant" && args[1] == "create") {
    if (auto st = db.migrate(cfg.postgres.schema); !st) return report(st.err());
    return print_key(mq::store::create_tenant(db, args[2]));
  }
  if (args.size() == 3 && args[0] == "key" && args[1] == "create")
    return print_key(mq::store::create_api_key(db, args[2]));
  if ((args.size() == 2 || args.size() == 3) && args[0] == "token") return print_token(cfg, db, args);
  if (args[0] == "seed-data") {
    if (auto st = db.migrate(cfg.postgres.schema); !st) return report(st.err());
    return mq::cli::seed_data(db, args);
  }
  return usage();
}
