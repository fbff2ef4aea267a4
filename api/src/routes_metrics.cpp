// Prometheus metrics of the API process: requests by route and status with their
// latency (recorded by call::send), and the depth and consumers of every job queue,
// read from RabbitMQ when scraped.

#include "mq/core/metrics.hpp"
#include "mq/queues/topology.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {

void declare_api_metrics() {
  auto& m = metrics::global();
  m.counter("mq_http_requests_total", "HTTP requests answered, by method, route pattern and status.");
  m.histogram("mq_http_request_duration_seconds", "Time from request to response, by method, route pattern and status.");
  m.gauge("mq_queue_messages", "Messages ready or unacknowledged in each job queue (and the dead-letter queue).");
  m.gauge("mq_queue_consumers", "Consumers of each queue: worker replicas taking that kind of job.");
}

void add_metrics_routes(router& r) {
  r.add("GET", "/metrics", [](services& s, const call_ptr& c) {
    s.publisher.inspect(queues::topology{s.cfg.amqp.prefix}.consumed_queues(), [c](result<std::vector<queues::queue_stats>> st) {
      auto& m = metrics::global();
      // Without RabbitMQ the queue gauges keep their last values; the rest still answers.
      if (st)
        for (const auto& q : *st) {
          m.set("mq_queue_messages", {{"queue", q.name}}, static_cast<double>(q.messages));
          m.set("mq_queue_consumers", {{"queue", q.name}}, static_cast<double>(q.consumers));
        }
      c->reply_as(200, m.render(), metrics::content_type);
    });
  }, false);
}

}  // namespace mq::api
