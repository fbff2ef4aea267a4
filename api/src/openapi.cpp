// GET /openapi.json: an OpenAPI 3.1 document generated from the router's routes, the
// endpoint descriptions in schemas/json/openapi/endpoints.json and the request schemas
// the handlers validate with, so it cannot describe an endpoint that is not served or
// miss one that is.

#include "openapi.hpp"

#include <set>

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/process.hpp"
#include "mq/schemas/files.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

const char* endpoints_file = "json/openapi/endpoints.json";

/// "/api/v1/tasks/:id" -> "/api/v1/tasks/{id}", with the parameter names.
std::string openapi_path(const route& r, std::vector<std::string>& params) {
  std::string out;
  for (const auto& seg : r.segments) {
    out += '/';
    if (!seg.empty() && seg[0] == ':') {
      params.push_back(seg.substr(1));
      out += "{" + seg.substr(1) + "}";
    } else {
      out += seg;
    }
  }
  return out.empty() ? "/" : out;
}

std::string operation_id(const route& r) {
  std::string id = r.method;
  for (auto& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (char ch : r.pattern) id += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return id;
}

/// A request schema's text without its "$schema" (the dialect is the document's).
std::optional<rapidjson::Document> request_schema(const std::string& name) {
  const auto& files = schemas::embedded_files();
  auto it = files.find("json/" + name + ".schema.json");
  if (it == files.end()) return std::nullopt;
  auto doc = json::parse(it->second);
  if (!doc || !doc->IsObject()) return std::nullopt;
  doc->RemoveMember("$schema");
  return std::move(*doc);
}

std::string schema_name(const std::string& request) { return request.substr(request.rfind('/') + 1); }

void write_error_components(json::writer& w) {
  w.key("Error");
  w.raw(R"({"type":"object","required":["error"],"properties":{"error":{"type":"object",)"
        R"("required":["code","message","details","timestamp","request_id"],"properties":{)"
        R"("code":{"type":"string","examples":["VALIDATION_FAILED","NOT_FOUND"]},"message":{"type":"string"},)"
        R"("details":{"type":"object"},"timestamp":{"type":"string","format":"date-time"},)"
        R"("request_id":{"type":"string"}}}}})");
}

}  // namespace

openapi_document build_openapi(const std::vector<route>& routes) {
  openapi_document out;
  const auto& files = schemas::embedded_files();
  auto it = files.find(endpoints_file);
  auto described = it == files.end() ? result<rapidjson::Document>(make_error(errc::internal, "missing"))
                                     : json::parse(it->second);
  if (!described || !described->HasMember("endpoints")) {
    out.problems.push_back(std::string(endpoints_file) + " is missing or not JSON");
    return out;
  }
  const auto& endpoints = (*described)["endpoints"];
  std::set<std::string> served, requests;
  // Paths in registration order, each with its operations.
  std::vector<std::pair<std::string, std::vector<const route*>>> paths;
  for (const auto& r : routes) {
    const auto key = r.method + " " + r.pattern;
    served.insert(key);
    if (!endpoints.HasMember(key.c_str())) out.problems.push_back("route without a description: " + key);
    std::vector<std::string> ignored;
    const auto path = openapi_path(r, ignored);
    auto at = std::find_if(paths.begin(), paths.end(), [&](const auto& p) { return p.first == path; });
    if (at == paths.end()) paths.push_back({path, {&r}});
    else at->second.push_back(&r);
  }
  for (auto m = endpoints.MemberBegin(); m != endpoints.MemberEnd(); ++m)
    if (!served.count(m->name.GetString())) out.problems.push_back(std::string("description without a route: ") + m->name.GetString());

  json::writer w;
  w.begin_object();
  w.kv("openapi", "3.1.0");
  w.key("info");
  w.begin_object();
  w.kv("title", "mq");
  w.kv("version", version());
  w.kv("description", "LLM jobs off the request path: meetings classified into the sales taxonomy, documents "
                      "processed and searched, campaigns sent once per recipient, KPIs from rollups. Errors always "
                      "have the Error shape.");
  w.end_object();
  w.key("paths");
  w.begin_object();
  for (const auto& [path, ops] : paths) {
    w.key(path);
    w.begin_object();
    for (const route* r : ops) {
      const auto key = r->method + " " + r->pattern;
      if (!endpoints.HasMember(key.c_str())) continue;
      const auto& e = endpoints[key.c_str()];
      std::string method = r->method;
      for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      w.key(method);
      w.begin_object();
      w.kv("operationId", operation_id(*r));
      w.kv("summary", e["summary"].GetString());
      w.key("tags");
      w.begin_array();
      w.value(e["tag"].GetString());
      w.end_array();
      w.key("security");
      w.begin_array();
      if (r->authenticated) w.raw(R"({"bearer":[]})");
      w.end_array();
      w.key("parameters");
      w.begin_array();
      std::vector<std::string> params;
      openapi_path(*r, params);
      for (const auto& p : params) {
        w.begin_object();
        w.kv("name", p);
        w.kv("in", "path");
        w.kv("required", true);
        w.key("schema");
        w.raw(R"({"type":"string"})");
        w.end_object();
      }
      if (e.HasMember("query"))
        for (auto q = e["query"].MemberBegin(); q != e["query"].MemberEnd(); ++q) {
          w.begin_object();
          w.kv("name", q->name.GetString());
          w.kv("in", "query");
          w.kv("required", false);
          w.kv("description", q->value.GetString());
          w.key("schema");
          w.raw(R"({"type":"string"})");
          w.end_object();
        }
      w.end_array();
      // The body: a request schema (or either of two), or a media type.
      std::string body;
      if (e.HasMember("request")) {
        std::vector<std::string> refs;
        for (const char* field : {"request", "alternative"})
          if (e.HasMember(field)) {
            requests.insert(e[field].GetString());
            refs.push_back(R"({"$ref":"#/components/schemas/)" + schema_name(e[field].GetString()) + "\"}");
          }
        const auto schema = refs.size() == 1 ? refs[0] : R"({"oneOf":[)" + refs[0] + "," + refs[1] + "]}";
        body = R"({"application/json":{"schema":)" + schema + "}}";
      } else if (e.HasMember("media") && r->method != "GET") {
        body = "{" + json::quote(e["media"].GetString()) + ":{}}";
      }
      if (!body.empty()) {
        w.key("requestBody");
        w.raw(R"({"required":true,"content":)" + body + "}");
      }
      w.key("responses");
      w.begin_object();
      for (auto s = e["success"].MemberBegin(); s != e["success"].MemberEnd(); ++s) {
        w.key(s->name.GetString());
        w.begin_object();
        w.kv("description", s->value.GetString());
        if (std::string(s->name.GetString()) != "204") {
          w.key("content");
          w.begin_object();
          const bool json_out = !e.HasMember("media") || r->method != "GET";
          w.key(json_out ? "application/json" : e["media"].GetString());
          w.raw(json_out ? R"({"schema":{"type":"object"}})" : "{}");
          w.end_object();
        }
        w.end_object();
      }
      for (const char* status : {"4XX", "5XX"}) {
        w.key(status);
        w.raw(R"({"$ref":"#/components/responses/Error"})");
      }
      w.end_object();
      w.end_object();
    }
    w.end_object();
  }
  w.end_object();
  w.key("components");
  w.begin_object();
  w.key("securitySchemes");
  w.raw(R"({"bearer":{"type":"http","scheme":"bearer","description":"An API key, or an HS256 JWT naming tenant_id"}})");
  w.key("responses");
  w.raw(R"({"Error":{"description":"The documented error","content":{"application/json":{"schema":)"
        R"({"$ref":"#/components/schemas/Error"}}}}})");
  w.key("schemas");
  w.begin_object();
  write_error_components(w);
  for (const auto& name : requests) {
    auto schema = request_schema(name);
    if (!schema) {
      out.problems.push_back("request schema not found: " + name);
      continue;
    }
    w.key(schema_name(name));
    w.value(*schema);
  }
  w.end_object();
  w.end_object();
  w.end_object();
  out.document = w.take();
  return out;
}

void add_openapi_route(router& r) {
  auto doc = std::make_shared<std::string>();
  r.add("GET", "/openapi.json", [doc](services&, const call_ptr& c) { c->reply(200, *doc); }, false);
  auto built = build_openapi(r.routes());
  for (const auto& p : built.problems) log::warn("api", "openapi: " + p, {});
  *doc = std::move(built.document);
}

}  // namespace mq::api
