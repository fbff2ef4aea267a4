#include "mq/core/ids.hpp"
#include "mq/store/repositories.hpp"
#include "pg_internal.hpp"

namespace mq::store {
namespace {

std::string new_api_key() { return "mq_" + random_hex(24); }

}  // namespace

result<new_key> create_tenant(pg_session& s, const std::string& name) {
  return guarded(s, [&](pqxx::connection& c) -> result<new_key> {
    pqxx::work tx(c);
    if (!tx.exec_params("SELECT 1 FROM tenants WHERE name = $1", name).empty())
      return make_error(errc::conflict, "tenant " + name + " already exists");
    new_key k{new_uuid(), name, new_api_key()};
    tx.exec_params("INSERT INTO tenants (id, name) VALUES ($1, $2)", k.tenant_id, name);
    tx.exec_params("INSERT INTO api_keys (key_hash, tenant_id) VALUES ($1, $2)",
                   sha256_hex(k.api_key), k.tenant_id);
    tx.commit();
    return k;
  });
}

result<new_key> create_api_key(pg_session& s, const std::string& tenant_name) {
  return guarded(s, [&](pqxx::connection& c) -> result<new_key> {
    pqxx::work tx(c);
    auto rows = tx.exec_params("SELECT id FROM tenants WHERE name = $1", tenant_name);
    if (rows.empty()) return make_error(errc::not_found, "no tenant named " + tenant_name);
    new_key k{rows[0][0].c_str(), tenant_name, new_api_key()};
    tx.exec_params("INSERT INTO api_keys (key_hash, tenant_id) VALUES ($1, $2)",
                   sha256_hex(k.api_key), k.tenant_id);
    tx.commit();
    return k;
  });
}

result<std::optional<std::string>> tenant_for_key_hash(pg_session& s, const std::string& hash) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<std::string>> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params(
        "SELECT tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", hash);
    if (rows.empty()) return std::optional<std::string>{};
    return std::optional<std::string>{rows[0][0].c_str()};
  });
}

result<bool> tenant_exists(pg_session& s, const std::string& tenant_id) {
  return guarded(s, [&](pqxx::connection& c) -> result<bool> {
    pqxx::nontransaction tx(c);
    return !tx.exec_params("SELECT 1 FROM tenants WHERE id = $1", tenant_id).empty();
  });
}

result<std::optional<std::string>> tenant_id_by_name(pg_session& s, const std::string& name) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<std::string>> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params("SELECT id FROM tenants WHERE name = $1", name);
    if (rows.empty()) return std::optional<std::string>{};
    return std::optional<std::string>{rows[0][0].c_str()};
  });
}

}  // namespace mq::store
