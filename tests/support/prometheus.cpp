#include "prometheus.hpp"

#include <cmath>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace mq::test {
namespace {

const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex comment_re("# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)");
// name, optional {labels}, value (a float, +Inf, -Inf or NaN), optional timestamp.
const std::regex sample_re(
    R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? ([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))( -?[0-9]+)?)");

double number(const std::string& s) {
  if (s == "+Inf" || s == "Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  return std::stod(s);
}

/// The family a sample belongs to: its name, or its name without a histogram's suffix.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      auto base = name.substr(0, name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return "";
}

/// A label set without its `le` pair, to group a histogram's buckets.
std::string without_le(const std::string& labels, std::string& le) {
  static const std::regex le_re(R"(,?le="([^"]*)\")");
  std::smatch m;
  if (!std::regex_search(labels, m, le_re)) return labels;
  le = m[1];
  auto rest = m.prefix().str() + m.suffix().str();
  if (rest == "{}" ) return "";
  if (rest.size() > 1 && rest[1] == ',') rest.erase(1, 1);
  return rest;
}

}  // namespace

double scrape::at(const std::string& series) const {
  auto it = samples.find(series);
  return it == samples.end() ? 0 : it->second;
}

double scrape::sum(const std::string& name, const std::string& labels) const {
  std::vector<std::string> wanted;
  std::stringstream in(labels);
  for (std::string pair; std::getline(in, pair, ',');)
    if (!pair.empty()) wanted.push_back(pair);
  double total = 0;
  for (const auto& [series, value] : samples) {
    if (series.compare(0, name.size(), name) != 0 || (series.size() > name.size() && series[name.size()] != '{'))
      continue;
    bool all = true;
    for (const auto& w : wanted) all = all && series.find(w) != std::string::npos;
    if (all) total += value;
  }
  return total;
}

scrape parse_prometheus(const std::string& text) {
  scrape out;
  // Histogram series -> (bucket bounds and counts in order, +Inf count).
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;
  std::istringstream lines(text);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    const auto fail = [&](const std::string& why) {
      throw std::runtime_error("line " + std::to_string(n) + ": " + why + ": " + line);
    };
    if (line.empty()) continue;
    std::smatch m;
    if (line[0] == '#') {
      if (!std::regex_match(line, m, comment_re)) continue;  // a free comment
      if (m[1] == "TYPE") {
        static const std::regex types_re("counter|gauge|histogram|summary|untyped");
        if (!std::regex_match(m[3].str(), types_re)) fail("unknown type");
        if (out.types.count(m[2])) fail("second TYPE for the family");
        out.types[m[2]] = m[3];
      }
      continue;
    }
    if (!std::regex_match(line, m, sample_re)) fail("not a sample");
    const std::string name = m[1], labels = m[2], series = name + labels;
    const auto family = family_of(name, out.types);
    if (family.empty()) fail("sample without a TYPE before it");
    if (out.samples.count(series)) fail("series written twice");
    const double value = number(m[3]);
    out.samples[series] = value;
    const auto& type = out.types[family];
    if (type == "counter" && value < 0) fail("negative counter");
    if (type == "histogram" && name == family + "_bucket") {
      std::string le;
      auto group = family + without_le(labels, le);
      if (le.empty()) fail("bucket without le");
      buckets[group].emplace_back(number(le), value);
    }
  }
  for (const auto& [group, list] : buckets) {
    for (std::size_t i = 1; i < list.size(); ++i)
      if (list[i].first <= list[i - 1].first || list[i].second < list[i - 1].second)
        throw std::runtime_error(group + ": buckets not in order or not cumulative");
    if (list.empty() || !std::isinf(list.back().first))
      throw std::runtime_error(group + ": no +Inf bucket");
    const auto brace = group.find('{');
    const auto count_series = group.substr(0, brace) + "_count" + (brace == std::string::npos ? "" : group.substr(brace));
    if (!out.samples.count(count_series) || out.samples[count_series] != list.back().second)
      throw std::runtime_error(group + ": +Inf bucket differs from _count");
  }
  return out;
}

}  // namespace mq::test
