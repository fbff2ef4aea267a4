// mq-api: the HTTP ingress. Configuration: config/default.yaml, MQ_CONFIG, MQ_*.
#include "mq/api/app.hpp"
#include "mq/config/config.hpp"
#include "mq/core/log.hpp"

int main(int argc, char** argv) {
  auto cfg = mq::config::load_or_exit(argc, argv);
  mq::log::set_service("api");
  mq::log::level lvl;
  if (mq::log::parse_level(cfg.log.level, lvl)) mq::log::set_level(lvl);
  return mq::api::run(cfg);
}
