#pragma once

// Helpers for campaign tests: a stack wired to a webhook receiver and an SMTP sink, and
// short ways to create, fill, send and wait for campaigns.

#include <rapidjson/document.h>

#include <map>
#include <string>
#include <vector>

#include "smtp_sink.hpp"
#include "stack.hpp"
#include "webhook_receiver.hpp"

namespace mq::test {

/// The path of campaign `id`, plus `rest` ("/send", "/cancel", ...).
std::string campaign_path(long long id, const std::string& rest = "");

/// Stack options sending webhooks to `hooks` and e-mail to `mail`, retrying quickly.
stack_options campaign_stack(const webhook_receiver& hooks, const smtp_sink& mail,
                             std::map<std::string, std::string> extra = {});

/// Creates a campaign from a JSON body; returns its id (fails the test otherwise).
long long create_campaign(stack& s, const std::string& key, const std::string& body);

/// Adds recipients "<prefix><i>@example.com" (i from 0) with first_name "Name<i>".
void add_recipients(stack& s, const std::string& key, long long campaign, int n, const std::string& prefix = "r");

/// POST .../send; returns the 202 body.
rapidjson::Document send_campaign(stack& s, const std::string& key, long long campaign);

/// A campaign created from `body` with `n` recipients (as add_recipients) and sent;
/// returns its id.
long long sent_campaign(stack& s, const std::string& key, const std::string& body, int n,
                        const std::string& prefix = "r");

/// Waits until the campaign has nothing pending or being sent; returns its analytics.
rapidjson::Document wait_settled(stack& s, const std::string& key, long long campaign,
                                 std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace mq::test
