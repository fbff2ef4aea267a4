#include "mq/store/pg_session.hpp"

#include <cstring>

#include "mq/core/scan.hpp"
#include "mq/schemas/files.hpp"
#include "pg_internal.hpp"

namespace mq::store {

pg_session::pg_session(std::string conninfo, std::string on_connect) : impl_(std::make_unique<impl>()) {
  impl_->conninfo = std::move(conninfo);
  impl_->on_connect = std::move(on_connect);
}

pg_session::~pg_session() = default;

error translate(pg_session::impl& s, const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    s.conn.reset();
    return make_error(errc::unavailable, "database unavailable", e.what());
  }
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    if (state == "23505") return make_error(errc::conflict, "already exists", e.what());
    if (state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 || state == "40001" ||
        state == "40P01" || state == "53300") {
      s.conn.reset();
      return make_error(errc::unavailable, "database unavailable", e.what());
    }
    if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0)
      return make_error(errc::validation_failed, "value rejected by the database", e.what());
  }
  return make_error(errc::internal, "database error", e.what());
}

status pg_session::ping() {
  return guarded(*this, [](pqxx::connection& c) -> status {
    pqxx::nontransaction tx(c);
    tx.exec("SELECT 1");
    return ok_status();
  });
}

status pg_session::migrate(const std::string& schema) {
  // `schema` is restricted to [A-Za-z0-9_] by the config loader, so it can be inlined.
  return guarded(*this, [&](pqxx::connection& c) -> status {
    auto exec = [&c](const std::string& sql) {
      pqxx::nontransaction tx(c);
      tx.exec(sql);
      tx.commit();
    };
    const std::string lock = "hashtext('mq.migrate." + schema + "')";
    exec("SELECT pg_advisory_lock(" + lock + ")");
    try {
      exec("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"");
      exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
           " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
      for (const auto& [version, sql] : schemas::migrations()) {
        pqxx::work tx(c);
        if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", version).empty())
          continue;
        tx.exec(sql);
        tx.exec_params("INSERT INTO schema_migrations (version) VALUES ($1)", version);
        tx.commit();
        log::info("migrate", "applied migration", {}, {{"version", version}, {"schema", schema}});
      }
    } catch (const pqxx::broken_connection&) {
      throw;  // the lock went with the session
    } catch (...) {
      exec("SELECT pg_advisory_unlock(" + lock + ")");
      throw;
    }
    exec("SELECT pg_advisory_unlock(" + lock + ")");
    return ok_status();
  });
}

namespace {

/// Appends `v` as a double-quoted array element: runs without a quote or backslash are
/// copied whole, into room made once for the worst case (every byte escaped) and cut to
/// size after. An answer of JSON has a quote every ten bytes or so, and a string append
/// per run cost more than the copying. Callers reserve that worst case (escaped_size) for
/// the whole literal, so that no element's room moves what is written before it.
std::size_t escaped_size(const std::string& v) { return 2 * v.size() + 2; }

void append_element(std::string& out, const std::string& v) {
  const std::size_t at = out.size();
  out.resize(at + escaped_size(v));
  char* w = out.data() + at;
  *w++ = '"';
  const char* p = v.data();
  const char* const end = p + v.size();
  for (;;) {
    const char* q = find_quote_or_backslash(p, end);
    std::memcpy(w, p, static_cast<std::size_t>(q - p));
    w += q - p;
    if (q == end) break;
    *w++ = '\\';
    *w++ = *q;
    p = q + 1;
  }
  *w++ = '"';
  out.resize(static_cast<std::size_t>(w - out.data()));
}

/// The literal of `items`, each written by `add(out, item)`.
template <class Items, class Add>
std::string literal_of(const Items& items, std::size_t reserve, Add add) {
  std::string out;
  out.reserve(reserve + 2 * items.size() + 2);
  out.push_back('{');
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(',');
    add(out, items[i]);
  }
  out.push_back('}');
  return out;
}

}  // namespace

std::string array_literal(const std::vector<std::optional<std::string>>& items) {
  std::size_t bytes = 0;
  for (const auto& v : items) bytes += v ? escaped_size(*v) : 4;
  return literal_of(items, bytes, [](std::string& out, const std::optional<std::string>& v) {
    if (v) append_element(out, *v);
    else out += "NULL";
  });
}

std::string array_literal(const std::vector<std::string>& items) {
  std::size_t bytes = 0;
  for (const auto& v : items) bytes += escaped_size(v);
  return literal_of(items, bytes, append_element);
}

std::string array_literal(const std::vector<std::int64_t>& items) {
  return literal_of(items, 12 * items.size(), [](std::string& out, std::int64_t v) { out += std::to_string(v); });
}

}  // namespace mq::store
