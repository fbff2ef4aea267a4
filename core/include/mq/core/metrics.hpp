#pragma once

// Prometheus metrics: counters, gauges and histograms by label set, kept in one registry
// per process and written in the text exposition format (version 0.0.4).

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mq::metrics {

/// Label names and values of one series, in the order given.
using labels = std::vector<std::pair<std::string, std::string>>;

/// Bucket bounds for latencies in seconds, 1 ms to 10 s.
const std::vector<double>& latency_buckets();

/// A set of metric families. Thread-safe; every call takes one mutex briefly.
class registry {
 public:
  /// Declares a family before its first sample (help text, type, bucket bounds for a
  /// histogram). Samples of an undeclared name are ignored, so a typo cannot invent one.
  void counter(const std::string& name, const std::string& help);
  void gauge(const std::string& name, const std::string& help);
  void histogram(const std::string& name, const std::string& help, std::vector<double> bounds = latency_buckets());

  /// Adds to a counter (by >= 0).
  void inc(const std::string& name, const labels& l = {}, double by = 1);
  /// Sets a gauge.
  void set(const std::string& name, const labels& l, double value);
  void set(const std::string& name, double value) { set(name, {}, value); }
  /// Records one observation in a histogram.
  void observe(const std::string& name, const labels& l, double value);

  /// The value of a counter or gauge series (0 when absent); for tests and stats.
  double value(const std::string& name, const labels& l = {}) const;

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
    std::map<std::string, series> samples;  // by rendered label set
  };
  family* find(const std::string& name, kind type);
  void declare(const std::string& name, kind type, const std::string& help, std::vector<double> bounds);

  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

/// The process's registry.
registry& global();

/// `{a="x",b="y"}` with values escaped (backslash, quote, newline); "" for no labels.
std::string render_labels(const labels& l);

/// The content type of the text exposition format.
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace mq::metrics
