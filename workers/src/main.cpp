// mq-worker: one worker replica. Configuration: config/default.yaml, MQ_CONFIG, MQ_*.
#include "mq/config/config.hpp"
#include "mq/core/log.hpp"
#include "mq/workers/app.hpp"

int main(int argc, char** argv) {
  auto cfg = mq::config::load_or_exit(argc, argv);
  mq::log::set_service("worker");
  mq::log::level lvl;
  if (mq::log::parse_level(cfg.log.level, lvl)) mq::log::set_level(lvl);
  return mq::workers::run(cfg);
}
