#include "outage.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace mq::test {
namespace {

/// Whether something accepts connections on 127.0.0.1 at the service's configured port.
bool answering(const std::string& name) {
  const char* var = name == "postgres" ? "MQ_POSTGRES_PORT" : name == "redis" ? "MQ_REDIS_PORT" : "MQ_AMQP_PORT";
  const char* port = std::getenv(var);
  if (!port) return false;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return up;
}

}  // namespace

int dev_service(const std::string& action, const std::string& name) {
  const std::string cmd = std::string(MQ_SOURCE_DIR) + "/scripts/dev service " + action + " " + name + " 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

outage::outage(std::string name, bool kill) : name_(std::move(name)), began_(std::chrono::steady_clock::now()) {
  EXPECT_EQ(dev_service(kill ? "kill" : "stop", name_), 0) << "could not take " << name_ << " down";
  EXPECT_FALSE(answering(name_)) << name_ << " still answers: was it started by this checkout's scripts/dev?";
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
