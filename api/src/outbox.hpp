#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

namespace mq::api {

struct services;

/// Publishes tasks that were committed but whose publish was never confirmed (the API
/// crashed between commit and confirm, or the broker was down): every
/// api.outbox_interval_ms it takes outbox groups older than api.outbox_grace_seconds,
/// publishes their still-queued tasks with confirms and deletes the groups. Workers
/// dedupe by task id, so a task published twice still runs once.
class outbox_relay {
 public:
  explicit outbox_relay(services& s);
  ~outbox_relay();
  void stop();

 private:
  void run();
  services& s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool busy_ = false;
  std::thread thread_;
};

}  // namespace mq::api
