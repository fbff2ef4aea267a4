#pragma once

// A strict reader of the Prometheus text exposition format (0.0.4), for tests: every
// line checked, every sample kept by its name and label set.

#include <map>
#include <string>

namespace mq::test {

/// The samples of one scrape, by `name{labels}` exactly as written (labels in order).
struct scrape {
  std::map<std::string, std::string> types;  ///< Family -> counter | gauge | histogram | ...
  std::map<std::string, double> samples;

  /// The sample `series` (e.g. `mq_jobs_total{kind="x",outcome="y"}`), 0 when absent.
  double at(const std::string& series) const;
  /// Sum of the samples of `name` whose label set contains every `name="value"` pair of
  /// `labels` (written as `a="x",b="y"`, or empty for all).
  double sum(const std::string& name, const std::string& labels = "") const;
};

/// Parses `text`; throws std::runtime_error naming the line for anything the format does
/// not allow: a sample before its TYPE, a bad name, label or value, a histogram whose
/// buckets are not cumulative or whose +Inf bucket differs from its _count.
scrape parse_prometheus(const std::string& text);

}  // namespace mq::test
