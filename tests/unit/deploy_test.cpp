// The deployment files against the code: Kubernetes manifests, the KEDA ScaledObject and
// compose.yaml name settings, ports, probe paths and queues that must exist.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "mq/config/config.hpp"
#include "mq/queues/topology.hpp"
#include "router.hpp"

namespace {

using namespace mq;

std::string source(const std::string& path) { return std::string(MQ_SOURCE_DIR) + "/" + path; }

config::app_config defaults() {
  auto cfg = config::load("", {});
  EXPECT_TRUE(cfg) << cfg.err().message;
  return *cfg;
}

bool routed(const std::string& path) {
  api::router r;
  api::add_all_routes(r);
  return std::any_of(r.routes().begin(), r.routes().end(),
                     [&](const api::route& x) { return x.method == "GET" && x.pattern == path; });
}

/// The first container of a Deployment.
YAML::Node container(const std::string& file) {
  for (const auto& doc : YAML::LoadAllFromFile(source(file)))
    if (doc["kind"].as<std::string>() == "Deployment") return doc["spec"]["template"]["spec"]["containers"][0];
  ADD_FAILURE() << "no Deployment in " << file;
  return {};
}

TEST(Deploy, TheConfigMapHoldsOnlySettingsThatExist) {
  std::map<std::string, std::string> env;
  for (const auto& kv : YAML::LoadFile(source("deploy/k8s/config.yaml"))["data"])
    env[kv.first.as<std::string>()] = kv.second.as<std::string>();
  auto cfg = config::load("", env);
  ASSERT_TRUE(cfg) << cfg.err().message;
  EXPECT_EQ(cfg->amqp.prefix, "mq");
  // Compose's shared environment too (its ${...} defaults stand for the values).
  std::map<std::string, std::string> compose;
  for (const auto& kv : YAML::LoadFile(source("compose.yaml"))["x-mq-env"]) {
    auto v = kv.second.as<std::string>();
    if (v.rfind("${", 0) == 0) v = v.find(":-") == std::string::npos ? "" : v.substr(v.find(":-") + 2, v.size() - v.find(":-") - 3);
    if (!v.empty()) compose[kv.first.as<std::string>()] = v;
  }
  auto composed = config::load("", compose);
  EXPECT_TRUE(composed) << composed.err().message;
}

TEST(Deploy, ProbesAndPortsAreTheOnesTheProcessesServe) {
  const auto cfg = defaults();
  auto api = container("deploy/k8s/api.yaml");
  EXPECT_EQ(api["ports"][0]["containerPort"].as<int>(), cfg.http.port);
  for (const char* probe : {"livenessProbe", "readinessProbe"})
    EXPECT_TRUE(routed(api[probe]["httpGet"]["path"].as<std::string>())) << probe;

  auto worker = container("deploy/k8s/worker.yaml");
  EXPECT_EQ(worker["ports"][0]["containerPort"].as<int>(), cfg.worker.metrics_port);
  EXPECT_EQ(worker["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/health");
  EXPECT_EQ(worker["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/ready");
  for (const auto& doc : YAML::LoadAllFromFile(source("deploy/k8s/worker.yaml")))
    EXPECT_GT(doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<int>(), cfg.worker.drain_seconds)
        << "the pod must outlive the drain";

  auto compose = YAML::LoadFile(source("compose.yaml"))["services"]["worker"]["healthcheck"]["test"];
  EXPECT_NE(compose[compose.size() - 1].as<std::string>().find(":" + std::to_string(cfg.worker.metrics_port) + "/health"),
            std::string::npos);
}

TEST(Deploy, KedaWatchesQueuesThatExist) {
  const queues::topology topo{"mq"};
  int triggers = 0;
  for (const auto& doc : YAML::LoadAllFromFile(source("deploy/k8s/keda-scaledobject.yaml"))) {
    if (doc["kind"].as<std::string>() != "ScaledObject") continue;
    EXPECT_EQ(doc["spec"]["scaleTargetRef"]["name"].as<std::string>(), "mq-worker");
    for (const auto& t : doc["spec"]["triggers"]) {
      const auto queue = t["metadata"]["queueName"].as<std::string>();
      const auto queues = topo.job_queues();
      EXPECT_NE(std::find(queues.begin(), queues.end(), queue), queues.end()) << queue;
      ++triggers;
    }
  }
  EXPECT_GT(triggers, 0);
}

}  // namespace
