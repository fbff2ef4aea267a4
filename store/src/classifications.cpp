#include "mq/store/repositories.hpp"
#include "rows.hpp"

namespace mq::store {

result<std::optional<schemas::classification_record>> get_classification(
    pg_session& s, const std::string& tenant, std::int64_t meeting_id) {
  return guarded(s, [&](pqxx::connection& c)
                        -> result<std::optional<schemas::classification_record>> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params("SELECT " MQ_CLASSIFICATION_COLUMNS
                               " FROM classifications k WHERE k.tenant_id = $1 AND k.meeting_id = $2",
                               tenant, static_cast<long long>(meeting_id));
    if (rows.empty()) return std::optional<schemas::classification_record>{};
    return std::optional<schemas::classification_record>{classification_from_row(rows[0])};
  });
}

result<page<schemas::classification_record>> list_classifications(pg_session& s,
                                                                   const std::string& tenant,
                                                                   page_request p) {
  return guarded(s, [&](pqxx::connection& c) -> result<page<schemas::classification_record>> {
    pqxx::work tx(c);
    return read_page<schemas::classification_record>(
        tx, "SELECT count(*) FROM classifications WHERE tenant_id = $1",
        "SELECT " MQ_CLASSIFICATION_COLUMNS " FROM classifications k WHERE k.tenant_id = $1 ORDER BY k.meeting_id", p,
        [](const pqxx::row& r) { return classification_from_row(r); }, tenant);
  });
}

result<bool> delete_classification(pg_session& s, const std::string& tenant,
                                   std::int64_t meeting_id) {
  return guarded(s, [&](pqxx::connection& c) -> result<bool> {
    pqxx::work tx(c);
    auto rows = tx.exec_params(
        "DELETE FROM classifications WHERE tenant_id = $1 AND meeting_id = $2 RETURNING 1", tenant,
        static_cast<long long>(meeting_id));
    tx.commit();
    return !rows.empty();
  });
}

}  // namespace mq::store
