#include "campaigns.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <sstream>

namespace mq::test {

std::string campaign_path(long long id, const std::string& rest) {
  return "/api/v1/campaigns/" + std::to_string(id) + rest;
}

stack_options campaign_stack(const webhook_receiver& hooks, const smtp_sink& mail,
                             std::map<std::string, std::string> extra) {
  stack_options o;
  o.env = {{"MQ_CAMPAIGNS_WEBHOOK_URL", hooks.url()},
           {"MQ_CAMPAIGNS_SMTP_URL", mail.url()},
           {"MQ_CAMPAIGNS_SMTP_FROM", "campaigns@mq.test"},
           {"MQ_CAMPAIGNS_BACKOFF_BASE_MS", "50"},
           {"MQ_CAMPAIGNS_BACKOFF_MAX_MS", "200"}};
  for (auto& [k, v] : extra) o.env[k] = v;
  return o;
}

long long create_campaign(stack& s, const std::string& key, const std::string& body) {
  auto r = s.post(key, "/api/v1/campaigns", body);
  EXPECT_EQ(r.status, 201) << r.body;
  if (r.status != 201) return 0;
  return parse(r.body)["campaign_id"].GetInt64();
}

void add_recipients(stack& s, const std::string& key, long long campaign, int n, const std::string& prefix) {
  std::string body = "{\"recipients\":[";
  for (int i = 0; i < n; ++i)
    body += std::string(i ? "," : "") + "{\"address\":\"" + prefix + std::to_string(i) +
            "@example.com\",\"attributes\":{\"first_name\":\"Name" + std::to_string(i) + "\",\"plan\":\"pro\"}}";
  body += "]}";
  auto r = s.post(key, "/api/v1/campaigns/" + std::to_string(campaign) + "/recipients", body);
  EXPECT_EQ(r.status, 201) << r.body;
}

rapidjson::Document send_campaign(stack& s, const std::string& key, long long campaign) {
  auto r = s.post(key, "/api/v1/campaigns/" + std::to_string(campaign) + "/send");
  EXPECT_EQ(r.status, 202) << r.body;
  return parse(r.body);
}

long long sent_campaign(stack& s, const std::string& key, const std::string& body, int n, const std::string& prefix) {
  const auto id = create_campaign(s, key, body);
  add_recipients(s, key, id, n, prefix);
  send_campaign(s, key, id);
  return id;
}

namespace {

/// What a campaign that did not settle left behind: its recipients and tasks by state,
/// the send queues, and the last lines each worker logged (its tasks' successes left out).
std::string where_it_stands(stack& s, long long campaign) {
  const auto id = std::to_string(campaign);
  std::string out = "recipients: " + s.sql("SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state, count(*) n "
                                          "FROM campaign_recipients WHERE campaign_id = " + id + " GROUP BY 1) g");
  out += "\nsend tasks: " + s.sql("SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n "
                                   "FROM tasks WHERE kind = 'send_message' GROUP BY 1) g");
  out += "\nqueued: " + std::to_string(s.queue("send_message").messages) + " single, " +
         std::to_string(s.queue("send_message.bulk").messages) + " bulk, " +
         std::to_string(s.queue("dead").messages) + " dead";
  for (const auto& w : s.workers()) {
    std::istringstream lines(w->log());
    std::deque<std::string> last;
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"task succeeded\"") != std::string::npos) continue;
      last.push_back(std::move(line));
      if (last.size() > 200) last.pop_front();
    }
    out += "\na worker's last log lines:";
    for (const auto& line : last) out += "\n  " + line;
  }
  return out;
}

}  // namespace

rapidjson::Document wait_settled(stack& s, const std::string& key, long long campaign, std::chrono::seconds timeout) {
  rapidjson::Document last;
  const bool settled = eventually(
      [&] {
        auto r = s.get(key, "/api/v1/campaigns/" + std::to_string(campaign) + "/analytics");
        if (r.status != 200) return false;
        last = parse(r.body);
        const std::string status = last["status"].GetString();
        return (status == "completed" || status == "cancelled") && last["pending"].GetInt64() == 0 &&
               last["sending"].GetInt64() == 0;
      },
      timeout);
  EXPECT_TRUE(settled) << "campaign " << campaign << " did not settle\n" << where_it_stands(s, campaign);
  return last;
}

}  // namespace mq::test
