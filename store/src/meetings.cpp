#include <algorithm>
#include <map>

#include "mq/store/repositories.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

const char* meeting_select =
    "SELECT m.id, m.client_id, c.name, c.email, m.seller_id, s.name, m.meeting_date::text, "
    "m.closed, m.transcript, " MQ_TS("m.created_at") ", "
    "EXISTS (SELECT 1 FROM classifications k WHERE k.meeting_id = m.id) "
    "FROM meetings m LEFT JOIN clients c ON c.id = m.client_id "
    "LEFT JOIN sellers s ON s.id = m.seller_id ";

schemas::meeting_record meeting_from_row(const pqxx::row& r) {
  schemas::meeting_record m;
  m.id = r[0].as<std::int64_t>();
  if (!r[1].is_null()) m.client_id = r[1].as<std::int64_t>();
  m.client_name = opt(r[2]);
  m.client_email = opt(r[3]);
  if (!r[4].is_null()) m.seller_id = r[4].as<std::int64_t>();
  m.seller_name = opt(r[5]);
  m.meeting_date = opt(r[6]);
  m.closed = r[7].as<bool>();
  m.transcript = r[8].c_str();
  m.created_at = r[9].c_str();
  m.classified = r[10].as<bool>();
  return m;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

/// Creates missing clients and returns, per meeting, its client id (or NULL).
std::vector<std::optional<std::string>> resolve_clients(pqxx::work& tx, const std::string& tenant,
                                                        const std::vector<meeting_input>& in) {
  std::map<std::string, std::string> by_email;  // email -> name to create with
  std::map<std::string, bool> by_name;
  for (const auto& m : in) {
    if (m.client_email)
      by_email.emplace(lower(*m.client_email), m.client_name.value_or(*m.client_email));
    else if (m.client_name)
      by_name.emplace(*m.client_name, true);
  }
  std::vector<std::string> names, emails, plain_names;
  for (const auto& [email, name] : by_email) {
    emails.push_back(email);
    names.push_back(name);
  }
  for (const auto& [name, unused] : by_name) plain_names.push_back(name);
  std::map<std::string, std::string> email_ids, name_ids;
  if (!emails.empty()) {
    tx.exec_params(
        "INSERT INTO clients (tenant_id, name, email) SELECT $1, n, e "
        "FROM unnest($2::text[], $3::text[]) AS x(n, e) ON CONFLICT DO NOTHING",
        tenant, array_literal(names), array_literal(emails));
    for (const auto& r : tx.exec_params(
             "SELECT email, id FROM clients WHERE tenant_id = $1 AND email = ANY($2::text[])",
             tenant, array_literal(emails)))
      email_ids[r[0].c_str()] = r[1].c_str();
  }
  if (!plain_names.empty()) {
    tx.exec_params(
        "INSERT INTO clients (tenant_id, name) SELECT $1, n FROM unnest($2::text[]) AS x(n) "
        "ON CONFLICT DO NOTHING",
        tenant, array_literal(plain_names));
    for (const auto& r : tx.exec_params(
             "SELECT name, id FROM clients "
             "WHERE tenant_id = $1 AND email IS NULL AND name = ANY($2::text[])",
             tenant, array_literal(plain_names)))
      name_ids[r[0].c_str()] = r[1].c_str();
  }
  std::vector<std::optional<std::string>> out;
  for (const auto& m : in) {
    if (m.client_email)
      out.emplace_back(email_ids.at(lower(*m.client_email)));
    else if (m.client_name)
      out.emplace_back(name_ids.at(*m.client_name));
    else
      out.emplace_back(std::nullopt);
  }
  return out;
}

std::vector<std::optional<std::string>> resolve_sellers(pqxx::work& tx, const std::string& tenant,
                                                        const std::vector<meeting_input>& in) {
  std::vector<std::string> names;
  for (const auto& m : in)
    if (m.seller_name) names.push_back(*m.seller_name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::map<std::string, std::string> ids;
  if (!names.empty()) {
    tx.exec_params(
        "INSERT INTO sellers (tenant_id, name) SELECT $1, n FROM unnest($2::text[]) AS x(n) "
        "ON CONFLICT DO NOTHING",
        tenant, array_literal(names));
    for (const auto& r : tx.exec_params(
             "SELECT name, id FROM sellers WHERE tenant_id = $1 AND name = ANY($2::text[])",
             tenant, array_literal(names)))
      ids[r[0].c_str()] = r[1].c_str();
  }
  std::vector<std::optional<std::string>> out;
  for (const auto& m : in)
    out.push_back(m.seller_name ? std::optional<std::string>(ids.at(*m.seller_name))
                                : std::nullopt);
  return out;
}

}  // namespace

result<std::vector<schemas::meeting_record>> insert_meetings(
    pg_session& s, const std::string& tenant, const std::vector<meeting_input>& in) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::vector<schemas::meeting_record>> {
    pqxx::work tx(c);
    auto clients = resolve_clients(tx, tenant, in);
    auto sellers = resolve_sellers(tx, tenant, in);
    std::vector<std::int64_t> ids;
    for (const auto& r : tx.exec_params(
             "SELECT nextval(pg_get_serial_sequence('meetings', 'id')) "
             "FROM generate_series(1, $1) ORDER BY 1",
             static_cast<long long>(in.size())))
      ids.push_back(r[0].as<std::int64_t>());
    std::vector<std::optional<std::string>> dates, closed;
    std::vector<std::string> transcripts;
    for (const auto& m : in) {
      dates.push_back(m.meeting_date);
      closed.emplace_back(m.closed ? "t" : "f");
      transcripts.push_back(m.transcript);
    }
    tx.exec_params(
        "INSERT INTO meetings (id, tenant_id, client_id, seller_id, meeting_date, closed, "
        "transcript) SELECT u.id, $1, u.client_id, u.seller_id, u.meeting_date, u.closed, "
        "u.transcript FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::date[], "
        "$6::boolean[], $7::text[]) AS u(id, client_id, seller_id, meeting_date, closed, "
        "transcript)",
        tenant, array_literal(ids), array_literal(clients), array_literal(sellers),
        array_literal(dates), array_literal(closed), array_literal(transcripts));
    std::map<std::int64_t, schemas::meeting_record> stored;
    for (const auto& r : tx.exec_params(std::string(meeting_select) +
                                            "WHERE m.tenant_id = $1 AND m.id = ANY($2::bigint[])",
                                        tenant, array_literal(ids))) {
      auto m = meeting_from_row(r);
      stored.emplace(m.id, std::move(m));
    }
    tx.commit();
    std::vector<schemas::meeting_record> out;
    for (auto id : ids) out.push_back(std::move(stored.at(id)));
    return out;
  });
}

result<page<schemas::meeting_record>> list_meetings(pg_session& s, const std::string& tenant,
                                                    std::optional<bool> classified,
                                                    page_request p) {
  return guarded(s, [&](pqxx::connection& c) -> result<page<schemas::meeting_record>> {
    pqxx::work tx(c);
    const std::string filter =
        " WHERE m.tenant_id = $1 AND (NULLIF($2, '')::boolean IS NULL OR "
        "EXISTS (SELECT 1 FROM classifications k WHERE k.meeting_id = m.id) = $2::boolean)";
    return read_page<schemas::meeting_record>(
        tx, "SELECT count(*) FROM meetings m" + filter, std::string(meeting_select) + filter + " ORDER BY m.id", p,
        [](const pqxx::row& r) { return meeting_from_row(r); }, tenant, flag_param(classified));
  });
}

result<std::optional<schemas::meeting_record>> get_meeting(pg_session& s, const std::string& tenant,
                                                           std::int64_t id) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<schemas::meeting_record>> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params(std::string(meeting_select) + "WHERE m.tenant_id = $1 AND m.id = $2",
                               tenant, static_cast<long long>(id));
    if (rows.empty()) return std::optional<schemas::meeting_record>{};
    return std::optional<schemas::meeting_record>{meeting_from_row(rows[0])};
  });
}

}  // namespace mq::store
