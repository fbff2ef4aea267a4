#include "mq/store/overview.hpp"

#include "rows.hpp"

namespace mq::store {

result<std::string> recent_work(pg_session& s, const std::string& tenant, int limit) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::string> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params(
        "SELECT json_build_object("
        "'tasks', (SELECT coalesce(json_agg(t ORDER BY t.id DESC), '[]') FROM (SELECT id, kind, status, subject_id, "
        "batch_id, attempts, error_code, " MQ_TS("created_at") " AS created_at, " MQ_TS("updated_at") " AS updated_at "
        "FROM tasks WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2) t), "
        "'batches', (SELECT coalesce(json_agg(b ORDER BY b.id DESC), '[]') FROM (SELECT b.id, b.kind, b.total, "
        "coalesce(sum(p.succeeded), 0) AS succeeded, coalesce(sum(p.failed), 0) AS failed, "
        "coalesce(sum(p.dead), 0) AS dead, coalesce(sum(p.cancelled), 0) AS cancelled, "
        "b.total - coalesce(sum(p.succeeded + p.failed + p.dead + p.cancelled), 0) AS pending, "
        MQ_TS("b.created_at") " AS created_at FROM (SELECT id, kind, total, created_at FROM batches WHERE tenant_id = $1 "
        "ORDER BY id DESC LIMIT $2) b LEFT JOIN batch_progress p ON p.batch_id = b.id "
        "GROUP BY b.id, b.kind, b.total, b.created_at) b))::text",
        tenant, limit);
    return std::string(rows[0][0].c_str());
  });
}

}  // namespace mq::store
