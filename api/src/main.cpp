// mq-api: the HTTP ingress. Configuration: config/default.yaml, MQ_CONFIG, MQ_*.
#include "mq/api/app.hpp"

int main(int argc, char** argv) { return mq::api::run(mq::config::load_or_exit(argc, argv, "api")); }
