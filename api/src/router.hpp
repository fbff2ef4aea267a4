#pragma once

#include <functional>
#include <string>
#include <vector>

#include "call.hpp"

namespace mq::api {

struct services;

using handler_fn = std::function<void(services&, const call_ptr&)>;

/// One endpoint: method, pattern with ":name" parameters, whether it needs a key.
struct route {
  std::string method;
  std::string pattern;
  bool authenticated = true;
  handler_fn handle;
  std::vector<std::string> segments;
};

/// Matches requests to routes (first match in registration order, so literal paths are
/// registered before parameterised siblings); 404 for unknown paths, 405 with Allow for a
/// known path and another method. Assigns or accepts X-Request-ID.
class router {
 public:
  void add(std::string method, std::string pattern, handler_fn h, bool authenticated = true);
  void dispatch(services& s, http::request&& req, http::responder respond) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

/// Registers every endpoint of mq-api (each group below, then /openapi.json).
void add_all_routes(router& r);

/// The groups of endpoints.
void add_ops_routes(router& r);
void add_meeting_routes(router& r);
void add_task_routes(router& r);
void add_dead_letter_routes(router& r);
void add_document_routes(router& r);
void add_campaign_routes(router& r);
void add_analytics_routes(router& r);
void add_classification_routes(router& r);
void add_usage_routes(router& r);
void add_metrics_routes(router& r);
void add_dashboard_routes(router& r);
/// Declares the API's metric families (before the first request).
void declare_api_metrics();

}  // namespace mq::api
