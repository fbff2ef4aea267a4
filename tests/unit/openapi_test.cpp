// The OpenAPI document against the router: every route served is described, nothing
// described is missing from the router, and request bodies are the schemas the handlers
// validate with.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "mq/core/json.hpp"
#include "mq/schemas/files.hpp"
#include "openapi.hpp"
#include "router.hpp"

namespace {

using namespace mq;

TEST(OpenApi, DescribesEveryRouteAndNothingElse) {
  api::router r;
  api::add_all_routes(r);
  auto built = api::build_openapi(r.routes());
  EXPECT_TRUE(built.problems.empty()) << [&] {
    std::string all;
    for (const auto& p : built.problems) all += p + "\n";
    return all;
  }();
  auto doc = json::parse(built.document);
  ASSERT_TRUE(doc);
  EXPECT_STREQ((*doc)["openapi"].GetString(), "3.1.0");
  const auto& paths = (*doc)["paths"];
  std::size_t operations = 0;
  for (const auto& route : r.routes()) {
    std::string path;
    for (const auto& seg : route.segments) path += "/" + (seg[0] == ':' ? "{" + seg.substr(1) + "}" : seg);
    std::string method = route.method;
    for (auto& ch : method) ch = static_cast<char>(std::tolower(ch));
    ASSERT_TRUE(paths.HasMember(path.c_str())) << path;
    ASSERT_TRUE(paths[path.c_str()].HasMember(method.c_str())) << method << " " << path;
    const auto& op = paths[path.c_str()][method.c_str()];
    EXPECT_GT(std::string(op["summary"].GetString()).size(), 5u) << path;
    EXPECT_EQ(op["security"].Size(), route.authenticated ? 1u : 0u) << path;
    ++operations;
  }
  std::size_t documented = 0;
  for (auto p = paths.MemberBegin(); p != paths.MemberEnd(); ++p) documented += p->value.MemberCount();
  EXPECT_EQ(documented, operations);
  EXPECT_GT(operations, 50u);

  // A request body is the very schema the handler validates with.
  const auto& meeting = (*doc)["components"]["schemas"]["meeting"];
  auto file = json::parse(schemas::embedded_files().at("json/requests/meeting.schema.json"));
  ASSERT_TRUE(file);
  EXPECT_EQ(json::stringify(meeting["properties"]), json::stringify((*file)["properties"]));
  EXPECT_STREQ(paths["/api/v1/campaigns/{id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                   .GetString(),
               "#/components/schemas/campaign_update");
}

TEST(OpenApi, ARouteWithoutADescriptionIsAProblem) {
  api::router r;
  api::add_all_routes(r);
  auto routes = r.routes();
  routes.push_back(api::route{"GET", "/api/v1/undocumented", true, nullptr, {"api", "v1", "undocumented"}});
  auto built = api::build_openapi(routes);
  ASSERT_FALSE(built.problems.empty());
  EXPECT_NE(std::find(built.problems.begin(), built.problems.end(), "route without a description: GET /api/v1/undocumented"),
            built.problems.end());
}

}  // namespace
