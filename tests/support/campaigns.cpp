#include "campaigns.hpp"

#include <gtest/gtest.h>

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
  EXPECT_TRUE(settled) << "campaign " << campaign << " did not settle";
  return last;
}

}  // namespace mq::test
