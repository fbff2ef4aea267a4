#pragma once

#include <string>
#include <vector>

namespace mq::api {

struct route;
class router;

/// The OpenAPI document of `routes`, and what does not match: routes without a
/// description, descriptions without a route, request schemas that are not embedded.
struct openapi_document {
  std::string document;
  std::vector<std::string> problems;
};

openapi_document build_openapi(const std::vector<route>& routes);

/// Registers GET /openapi.json, generated from every route registered so far (call it
/// after the others).
void add_openapi_route(router& r);

}  // namespace mq::api
