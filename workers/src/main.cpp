// mq-worker: one worker replica. Configuration: config/default.yaml, MQ_CONFIG, MQ_*.
#include "mq/workers/app.hpp"

int main(int argc, char** argv) { return mq::workers::run(mq::config::load_or_exit(argc, argv, "worker")); }
