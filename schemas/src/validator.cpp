#include "mq/schemas/validator.hpp"

#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "mq/core/json.hpp"
#include "mq/schemas/files.hpp"
#include "mq/schemas/quick_check.hpp"

namespace mq::schemas {
namespace {

using pooled_validator =
    rapidjson::GenericSchemaValidator<rapidjson::SchemaDocument, rapidjson::BaseReaderHandler<rapidjson::UTF8<>>,
                                      rapidjson::MemoryPoolAllocator<>>;

struct compiled {
  rapidjson::Document source;
  std::unique_ptr<rapidjson::SchemaDocument> schema;
  /// Passes the documents that are valid in one walk, where the schema allows: RapidJSON's
  /// validator costs about 20 k instructions for an LLM's classification (a hash and a
  /// lookup per value, a stack per level), and it is then left to explain what is not.
  std::optional<quick_check> quick;
};

/// All schemas, compiled on first use. Immutable afterwards, so shared across threads.
const std::map<std::string, compiled, std::less<>>& registry() {
  static const auto all = [] {
    std::map<std::string, compiled, std::less<>> out;
    const std::string prefix = "json/", suffix = ".schema.json";
    for (const auto& [path, text] : embedded_files()) {
      if (path.rfind(prefix, 0) != 0 || path.size() <= prefix.size() + suffix.size() ||
          path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      auto name = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
      compiled c;
      c.source.Parse(text.data(), text.size());
      if (c.source.HasParseError()) throw std::runtime_error("schema " + path + " is not JSON");
      c.schema = std::make_unique<rapidjson::SchemaDocument>(c.source);
      c.quick = quick_check::compile(c.source);
      out.emplace(std::move(name), std::move(c));
    }
    return out;
  }();
  return all;
}

const compiled& compiled_named(std::string_view name) {
  auto it = registry().find(name);
  if (it == registry().end()) throw std::out_of_range("unknown schema " + std::string(name));
  return it->second;
}

std::string pointer_string(const rapidjson::Pointer& p) {
  rapidjson::StringBuffer sb;
  p.Stringify(sb);
  return sb.GetString();
}

std::string join_strings(const rapidjson::Value& arr) {
  std::string out;
  for (const auto& v : arr.GetArray()) {
    if (!out.empty()) out += ", ";
    out += v.IsString() ? v.GetString() : json::stringify(v);
  }
  return out;
}

/// Turns RapidJSON's (schema rule, keyword, document pointer) into a sentence, and
/// narrows the pointer to the offending property for "required" and
/// "additionalProperties".
std::string describe(const rapidjson::Value* rule, const std::string& keyword,
                     const rapidjson::Value* value, std::string& where) {
  const rapidjson::Value* arg = nullptr;
  if (rule && rule->IsObject() && rule->HasMember(keyword.c_str())) arg = &(*rule)[keyword.c_str()];
  if (keyword == "required" && arg && arg->IsArray() && value && value->IsObject()) {
    for (const auto& r : arg->GetArray())
      if (r.IsString() && !value->HasMember(r.GetString())) {
        where += "/" + std::string(r.GetString());
        return where + " is required";
      }
  }
  if (keyword == "additionalProperties") {
    if (value && value->IsObject() && rule && rule->HasMember("properties")) {
      const auto& props = (*rule)["properties"];
      for (auto it = value->MemberBegin(); it != value->MemberEnd(); ++it)
        if (!props.HasMember(it->name)) {
          where += "/" + std::string(it->name.GetString());
          break;
        }
    }
    return where + " is not allowed";
  }
  const std::string at = where.empty() ? "the body" : where;
  if (keyword == "enum" && arg && arg->IsArray()) return at + " must be one of: " + join_strings(*arg);
  if (keyword == "type" && arg)
    return at + " must be of type " + (arg->IsString() ? arg->GetString() : join_strings(*arg));
  if (arg && (keyword == "minimum" || keyword == "maximum" || keyword == "minLength" ||
              keyword == "maxLength" || keyword == "minItems" || keyword == "maxItems" ||
              keyword == "pattern"))
    return at + " violates " + keyword + " " + json::stringify(*arg);
  if (keyword == "uniqueItems") return at + " must not repeat items";
  return at + " violates " + keyword;
}

}  // namespace

void compile_schemas() { (void)registry(); }

std::vector<std::string> schema_names() {
  std::vector<std::string> out;
  for (const auto& [name, c] : registry()) out.push_back(name);
  return out;
}

const rapidjson::Document& schema_json(std::string_view name) { return compiled_named(name).source; }

namespace {

std::optional<violation> run_validator(const compiled& c, const rapidjson::Value& doc) {
  // The validator's working memory (its stacks, the hashers of enum and uniqueItems checks)
  // comes from a pool in this thread's buffer, emptied after each use: left to itself, a
  // validator takes it from the heap one piece at a time and gives it back the same way.
  alignas(16) thread_local char buffer[16 * 1024];
  thread_local rapidjson::MemoryPoolAllocator<> pool(buffer, sizeof buffer);
  struct emptied {
    rapidjson::MemoryPoolAllocator<>& pool;
    ~emptied() { pool.Clear(); }
  } after{pool};
  pooled_validator v(*c.schema, &pool);
  if (doc.Accept(v)) return std::nullopt;
  violation out;
  out.keyword = v.GetInvalidSchemaKeyword();
  out.pointer = pointer_string(v.GetInvalidDocumentPointer());
  const rapidjson::Value* rule = v.GetInvalidSchemaPointer().Get(c.source);
  const rapidjson::Value* value = v.GetInvalidDocumentPointer().Get(doc);
  out.message = describe(rule, out.keyword, value, out.pointer);
  return out;
}

}  // namespace

std::optional<violation> validate(std::string_view name, const rapidjson::Value& doc) {
  const auto& c = compiled_named(name);
  if (c.quick && c.quick->passes(doc)) return std::nullopt;
  return run_validator(c, doc);
}

std::optional<violation> validate_in_full(std::string_view name, const rapidjson::Value& doc) {
  return run_validator(compiled_named(name), doc);
}

status check(std::string_view name, const rapidjson::Value& doc) {
  if (auto bad = validate(name, doc)) return make_error(errc::validation_failed, bad->message);
  return ok_status();
}

}  // namespace mq::schemas
