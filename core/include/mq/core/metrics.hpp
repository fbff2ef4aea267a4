#pragma once

// Prometheus metrics: counters, gauges and histograms by label set, kept in one registry
// per process and written in the text exposition format (version 0.0.4).

#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mq::metrics {

/// Label names and values of one series, in the order given: a braced list at the call
/// (a local variable keeps its values alive while it lives). Nothing is allocated to
/// pass one.
using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

/// Bucket bounds for latencies in seconds, 1 ms to 10 s.
const std::vector<double>& latency_buckets();

/// A set of metric families. Thread-safe; every call takes one mutex briefly and, once a
/// series exists, allocates nothing.
class registry {
 public:
  /// Declares a family before its first sample (help text, type, bucket bounds for a
  /// histogram). Samples of an undeclared name are ignored, so a typo cannot invent one.
  void counter(const std::string& name, const std::string& help);
  void gauge(const std::string& name, const std::string& help);
  void histogram(const std::string& name, const std::string& help, std::vector<double> bounds = latency_buckets());

  /// Adds to a counter (by >= 0).
  void inc(std::string_view name, labels l = {}, double by = 1);
  /// Sets a gauge.
  void set(std::string_view name, labels l, double value);
  void set(std::string_view name, double value) { set(name, {}, value); }
  /// Records one observation in a histogram.
  void observe(std::string_view name, labels l, double value);

  /// The value of a counter or gauge series (0 when absent); for tests and stats.
  double value(std::string_view name, labels l = {}) const;

  /// Every family, in name order, as text exposition.
  std::string render() const;

 private:
  enum class kind { counter, gauge, histogram };
  struct series {
    double value = 0;                   // counter or gauge
    std::vector<std::uint64_t> counts;  // histogram: per bucket, not cumulative
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct family {
    kind type = kind::counter;
    std::string help;
    std::vector<double> bounds;
    std::map<std::string, series, std::less<>> samples;  // by rendered label set
  };
  family* find(std::string_view name, kind type);
  /// The series of family `f` for the label set rendered in `key`, made when new.
  static series& series_of(family& f, const std::string& key);
  void declare(const std::string& name, kind type, const std::string& help, std::vector<double> bounds);

  mutable std::mutex mu_;
  std::map<std::string, family, std::less<>> families_;
};

/// The process's registry.
registry& global();

/// `{a="x",b="y"}` with values escaped (backslash, quote, newline); "" for no labels.
std::string render_labels(labels l);

/// The content type of the text exposition format.
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace mq::metrics
