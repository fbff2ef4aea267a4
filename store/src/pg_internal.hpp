#pragma once

// Private to mq::store: libpqxx never appears in a public header.

#include <pqxx/pqxx>

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/core/log.hpp"
#include "mq/core/time.hpp"
#include "mq/store/pg_session.hpp"

namespace mq::store {

struct pg_session::impl {
  std::string conninfo;
  std::string on_connect;
  std::unique_ptr<pqxx::connection> conn;

  /// The live connection, connecting first if needed. Throws pqxx::broken_connection.
  pqxx::connection& get() {
    if (!conn || !conn->is_open()) {
      conn.reset();
      auto fresh = std::make_unique<pqxx::connection>(conninfo);
      if (!on_connect.empty()) {
        pqxx::nontransaction tx(*fresh);
        tx.exec(on_connect);
      }
      conn = std::move(fresh);
    }
    return *conn;
  }
};

/// Maps a libpqxx exception to an error value; drops the connection when it broke.
error translate(pg_session::impl& s, const std::exception& e);

/// Runs `f(connection)` and converts exceptions at this one boundary. `f` holds one
/// whole transaction, so a serialization failure or deadlock simply runs it again (three
/// tries, then a retryable errc::unavailable).
template <class F>
auto guarded(pg_session& session, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
  auto& s = session.internals();
  for (int attempt = 1;; ++attempt) {
    try {
      return f(s.get());
    } catch (const pqxx::transaction_rollback& e) {
      if (attempt < 3) continue;
      return make_error(errc::unavailable, "database busy; try again", e.what());
    } catch (const std::exception& e) {
      return translate(s, e);
    }
  }
}

/// Prepares `sql` as `name` on this connection (a no-op once it is; prepared statements
/// skip parsing and, with plan_cache_mode = force_generic_plan, planning too, and live
/// with the connection, which is rebuilt after a loss).
inline void prepare(pqxx::connection_base& c, const std::string& name, const std::string& sql) { c.prepare(name, sql); }

/// A Postgres array literal ({"a","b",NULL}) for binding a whole column as one parameter;
/// libpqxx 6.4 cannot bind std::vector.
std::string array_literal(const std::vector<std::optional<std::string>>& items);
std::string array_literal(const std::vector<std::string>& items);
std::string array_literal(const std::vector<std::int64_t>& items);

/// Column text or nullopt for NULL.
inline std::optional<std::string> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.c_str();
}

/// A number column (numeric, float8) as a double, or 0 for NULL. libpqxx 6.4 reads a
/// floating-point field through a string stream, thousands of instructions each.
inline double double_of(const pqxx::field& f) {
  double v = 0;
  if (!f.is_null()) std::from_chars(f.c_str(), f.c_str() + f.size(), v);
  return v;
}

/// SQL expression that formats a timestamptz column as RFC 3339 UTC with milliseconds.
#define MQ_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/// A timestamptz column as plain UTC text, for the statements every job runs: to_char
/// costs Postgres about 1 us a call, this a fifth of that. Read it with timestamp_of().
#define MQ_TS_TEXT(col) "(" col " AT TIME ZONE 'UTC')::text"

/// An MQ_TS_TEXT column as MQ_TS writes it ("2026-12-06T05:13:41.409Z"); nullopt for NULL.
inline std::optional<std::string> timestamp_of(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return rfc3339_from_sql(f.c_str());
}

}  // namespace mq::store
