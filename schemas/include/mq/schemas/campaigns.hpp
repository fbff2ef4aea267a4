#pragma once

// Campaigns as stored and shown: the campaign, its delivery ledger rows and its figures.

#include <cstdint>
#include <optional>
#include <string>

namespace mq::schemas {

/// Counts of a campaign's ledger by state, and the tokens its personalisation used.
struct delivery_counts {
  long long total = 0, pending = 0, sending = 0, sent = 0, failed = 0, unknown = 0, cancelled = 0;
  long long tokens_in = 0, tokens_out = 0;
  /// Nothing left to send (every row sent, failed, unknown or cancelled).
  bool settled() const { return pending == 0 && sending == 0; }
};

/// A campaign. `status` is draft, scheduled, sending, completed (sending with nothing left
/// to send; derived from the ledger) or cancelled.
struct campaign_record {
  std::int64_t id = 0;
  std::string tenant_id;
  std::string name;
  std::string channel;  ///< webhook or smtp
  std::optional<std::string> subject;
  std::string template_text;
  std::optional<std::string> personalization_prompt;
  std::optional<std::string> schedule_at;
  std::optional<int> rate_per_minute;
  std::string status = "draft";
  std::optional<std::string> batch_id;
  std::optional<std::string> start_task_id;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> started_at;
  std::optional<std::string> cancelled_at;
  std::optional<std::string> finished_at;  ///< When the last delivery settled (completed only).
  delivery_counts counts;
};

std::string to_json(const campaign_record& c);

/// The analytics answer: ledger counts overall and by channel, tokens, timing.
std::string analytics_json(const campaign_record& c);

/// One ledger row: a recipient of a campaign and what became of its message.
struct recipient_record {
  std::int64_t id = 0;
  std::int64_t campaign_id = 0;
  std::string address;
  std::string attributes_json = "{}";
  std::string state = "pending";  ///< pending, sending, sent, failed, unknown, cancelled
  std::string idempotency_key;
  std::optional<std::string> task_id;
  std::optional<std::string> subject;
  std::optional<std::string> message;
  int attempts = 0;
  std::optional<int> response_code;
  std::optional<std::string> error_code;
  std::optional<std::string> error;
  int tokens_in = 0;
  int tokens_out = 0;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> sending_at;
  std::optional<std::string> finished_at;
};

std::string to_json(const recipient_record& r);

}  // namespace mq::schemas
