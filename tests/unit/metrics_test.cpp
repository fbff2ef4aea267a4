// The metrics registry's text exposition, read back by the strict parser the
// integration tests use on /metrics.

#include <gtest/gtest.h>

#include "mq/core/metrics.hpp"
#include "prometheus.hpp"

namespace {

using namespace mq;

TEST(Metrics, RendersCountersGaugesAndCumulativeHistograms) {
  metrics::registry r;
  r.counter("jobs_total", "Jobs.\nSecond line");
  r.gauge("depth", "Depth.");
  r.histogram("latency_seconds", "Latency.", {0.1, 1});
  r.inc("jobs_total", {{"kind", "a"}, {"outcome", "ok"}});
  r.inc("jobs_total", {{"kind", "a"}, {"outcome", "ok"}}, 2);
  r.inc("jobs_total", {{"kind", "we\"ird\\path\n"}, {"outcome", "ok"}});
  r.inc("jobs_total", {{"kind", "a"}}, -5);  // counters never go down
  r.inc("undeclared_total");                 // ignored
  r.set("depth", {{"queue", "q"}}, 7);
  r.set("depth", {{"queue", "q"}}, 4);
  for (double v : {0.05, 0.1, 0.5, 3.0}) r.observe("latency_seconds", {{"route", "/x"}}, v);

  const auto text = r.render();
  auto s = test::parse_prometheus(text);
  EXPECT_EQ(s.types["jobs_total"], "counter");
  EXPECT_EQ(s.types["latency_seconds"], "histogram");
  EXPECT_EQ(s.types.count("undeclared_total"), 0u);
  EXPECT_EQ(s.at(R"(jobs_total{kind="a",outcome="ok"})"), 3);
  EXPECT_EQ(s.at(R"(jobs_total{kind="we\"ird\\path\n",outcome="ok"})"), 1);
  EXPECT_EQ(s.at(R"(jobs_total{kind="a"})"), 0);
  EXPECT_EQ(s.sum("jobs_total", R"(outcome="ok")"), 4);
  EXPECT_EQ(s.at(R"(depth{queue="q"})"), 4);
  EXPECT_EQ(s.at(R"(latency_seconds_bucket{route="/x",le="0.1"})"), 2);  // le is inclusive
  EXPECT_EQ(s.at(R"(latency_seconds_bucket{route="/x",le="1"})"), 3);
  EXPECT_EQ(s.at(R"(latency_seconds_bucket{route="/x",le="+Inf"})"), 4);
  EXPECT_DOUBLE_EQ(s.at(R"(latency_seconds_sum{route="/x"})"), 3.65);
  EXPECT_NE(text.find("# HELP jobs_total Jobs.\\nSecond line\n"), std::string::npos);
  EXPECT_EQ(r.value("depth", {{"queue", "q"}}), 4);
}

TEST(Metrics, TheParserRefusesWhatTheFormatDoesNotAllow) {
  EXPECT_THROW(test::parse_prometheus("x_total 1\n"), std::runtime_error);  // no TYPE before it
  EXPECT_THROW(test::parse_prometheus("# TYPE x counter\nx{a=\"1\" 1\n"), std::runtime_error);
  EXPECT_THROW(test::parse_prometheus("# TYPE x counter\nx -1\n"), std::runtime_error);
  EXPECT_THROW(test::parse_prometheus("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
                                      "h_count 2\nh_sum 1\n"),
               std::runtime_error);  // not cumulative
  EXPECT_THROW(test::parse_prometheus("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n"),
               std::runtime_error);  // +Inf differs from _count
  EXPECT_NO_THROW(test::parse_prometheus("# a comment\n# TYPE g gauge\ng 1.5e3\ng{a=\"b\"} NaN\n"));
}

}  // namespace
