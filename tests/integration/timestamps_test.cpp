// Timestamps the job store reads as plain SQL text come out exactly as to_char formats
// them for the API, in the real Postgres.

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "mq/config/config.hpp"
#include "mq/core/time.hpp"
#include "stack.hpp"

namespace {

using namespace mq;

TEST(Timestamps, PlainSqlTextReadsAsToCharFormatsIt) {
  MQ_REQUIRE_SERVICES();
  auto cfg = config::load("", config::process_env());
  ASSERT_TRUE(cfg.ok());
  pqxx::connection c(cfg->postgres.conninfo());
  pqxx::nontransaction tx(c);
  tx.exec("SET TIME ZONE 'America/Santiago'");  // the session's zone must not matter
  for (const char* ts : {"2026-12-06 05:13:41.409123+00", "2026-12-06 05:13:41.999999+00",
                         "2026-12-06 05:13:41.4+00", "2026-12-06 05:13:41+00",
                         "2026-12-31 23:59:59.0005-03", "2024-02-29 00:00:00.000001+05:30"}) {
    auto r = tx.exec_params1(
        "SELECT to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "($1::timestamptz AT TIME ZONE 'UTC')::text",
        std::string(ts));
    EXPECT_EQ(rfc3339_from_sql(r[1].c_str()), r[0].c_str()) << ts;
  }
}

}  // namespace
