#include "mq/core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mq::metrics {
namespace {

/// A sample value as Prometheus writes it: integers without a fraction, +Inf spelled out.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// `{labels,le="bound"}`: the label set of a histogram bucket.
std::string with_le(const std::string& rendered, const std::string& le) {
  const std::string pair = "le=\"" + le + "\"";
  if (rendered.empty()) return "{" + pair + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + pair + "}";
}

std::string escape_help(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

namespace {

/// Writes `l` as `{a="x",b="y"}` into `out` (cleared first).
void render_into(std::string& out, labels l) {
  out.clear();
  if (l.size() == 0) return;
  out += '{';
  for (const auto& [k, v] : l) {
    if (out.size() > 1) out += ',';
    out.append(k);
    out += "=\"";
    for (char c : v) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  out += '}';
}

/// The calling thread's label key, rendered again for each sample without allocating.
const std::string& key_of(labels l) {
  thread_local std::string key;
  render_into(key, l);
  return key;
}

}  // namespace

std::string render_labels(labels l) {
  std::string out;
  render_into(out, l);
  return out;
}

void registry::declare(const std::string& name, kind type, const std::string& help, std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
  std::sort(bounds.begin(), bounds.end());
  f.bounds = std::move(bounds);
}

void registry::counter(const std::string& name, const std::string& help) { declare(name, kind::counter, help, {}); }
void registry::gauge(const std::string& name, const std::string& help) { declare(name, kind::gauge, help, {}); }
void registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
  declare(name, kind::histogram, help, std::move(bounds));
}

registry::family* registry::find(std::string_view name, kind type) {
  auto it = families_.find(name);
  return it == families_.end() || it->second.type != type ? nullptr : &it->second;
}

registry::series& registry::series_of(family& f, const std::string& key) {
  auto it = f.samples.find(key);
  if (it == f.samples.end()) it = f.samples.emplace(key, series{}).first;
  if (f.type == kind::histogram && it->second.counts.empty()) it->second.counts.resize(f.bounds.size() + 1);
  return it->second;
}

// Label sets are rendered before the lock is taken: callers on hot paths hold it briefly.
void registry::inc(std::string_view name, labels l, double by) {
  if (by < 0) return;
  const auto& key = key_of(l);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* f = find(name, kind::counter)) series_of(*f, key).value += by;
}

void registry::set(std::string_view name, labels l, double value) {
  const auto& key = key_of(l);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* f = find(name, kind::gauge)) series_of(*f, key).value = value;
}

void registry::observe(std::string_view name, labels l, double value) {
  const auto& key = key_of(l);
  std::lock_guard<std::mutex> lock(mu_);
  auto* f = find(name, kind::histogram);
  if (!f) return;
  auto& s = series_of(*f, key);
  const auto at = std::lower_bound(f->bounds.begin(), f->bounds.end(), value) - f->bounds.begin();
  ++s.counts[static_cast<std::size_t>(at)];
  s.sum += value;
  ++s.count;
}

double registry::value(std::string_view name, labels l) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.samples.find(render_labels(l));
  if (s == it->second.samples.end()) return 0;
  return it->second.type == kind::histogram ? static_cast<double>(s->second.count) : s->second.value;
}

std::string registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    static const char* types[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + escape_help(f.help) + "\n# TYPE " + name + " " +
           types[static_cast<int>(f.type)] + "\n";
    for (const auto& [l, s] : f.samples) {
      if (f.type != kind::histogram) {
        out += name + l + " " + number(s.value) + "\n";
        continue;
      }
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < f.bounds.size(); ++i) {
        cumulative += s.counts[i];
        out += name + "_bucket" + with_le(l, number(f.bounds[i])) + " " + number(static_cast<double>(cumulative)) + "\n";
      }
      out += name + "_bucket" + with_le(l, "+Inf") + " " + number(static_cast<double>(s.count)) + "\n";
      out += name + "_sum" + l + " " + number(s.sum) + "\n";
      out += name + "_count" + l + " " + number(static_cast<double>(s.count)) + "\n";
    }
  }
  return out;
}

registry& global() {
  static registry r;
  return r;
}

}  // namespace mq::metrics
