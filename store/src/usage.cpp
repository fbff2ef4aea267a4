#include "mq/store/repositories.hpp"
#include "pg_internal.hpp"

namespace mq::store {

result<std::vector<usage_row>> usage_between(pg_session& s, const std::string& tenant,
                                             const std::string& from, const std::string& to) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::vector<usage_row>> {
    pqxx::nontransaction tx(c);
    std::vector<usage_row> out;
    for (const auto& r : tx.exec_params(
             "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, kind, provider, model, "
             "sum(calls), sum(tokens_in), sum(tokens_out), sum(cost_usd)::float8 FROM llm_usage "
             "WHERE tenant_id = $1 AND created_at >= $2::timestamptz AND created_at < $3::timestamptz "
             "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
             tenant, from, to)) {
      usage_row u;
      u.day = r[0].c_str();
      u.kind = r[1].c_str();
      u.provider = r[2].c_str();
      u.model = r[3].c_str();
      u.calls = r[4].as<long long>();
      u.tokens_in = r[5].as<long long>();
      u.tokens_out = r[6].as<long long>();
      u.cost_usd = double_of(r[7]);
      out.push_back(std::move(u));
    }
    return out;
  });
}

}  // namespace mq::store
