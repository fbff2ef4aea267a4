#include "outage.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

namespace mq::test {

int dev_service(const std::string& action, const std::string& name) {
  const std::string cmd = std::string(MQ_SOURCE_DIR) + "/scripts/dev service " + action + " " + name + " 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

outage::outage(std::string name, bool kill) : name_(std::move(name)), began_(std::chrono::steady_clock::now()) {
  EXPECT_EQ(dev_service(kill ? "kill" : "stop", name_), 0) << "could not take " << name_ << " down";
}

outage::~outage() {
  if (!ended_) end();
}

std::chrono::milliseconds outage::end() {
  ended_ = true;
  EXPECT_EQ(dev_service("start", name_), 0) << "could not bring " << name_ << " back";
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began_);
}

}  // namespace mq::test
