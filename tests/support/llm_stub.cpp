#include "llm_stub.hpp"

#include <boost/asio/steady_timer.hpp>

#include "mq/core/json.hpp"

namespace mq::test {

llm_stub::llm_stub() : io_(1) {
  script_ = [](const stub_request&, int) { return completion(valid_classification()); };
  http::server_options opts;
  opts.port = 0;
  opts.body_limit = 64 << 20;
  server_ = std::make_unique<http::server>(io_, opts, [this](http::request&& req, http::responder respond) {
    stub_request r{req.path, req.body, req.header("authorization")};
    script s;
    int n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(r);
      n = static_cast<int>(requests_.size());
      s = script_;
    }
    if (req.path != "/v1/chat/completions") {
      http::response nf;
      nf.status = 404;
      nf.body = R"({"error":{"message":"not found"}})";
      return respond(std::move(nf));
    }
    auto reply = s(r, n);
    http::response out;
    out.status = reply.status;
    out.body = reply.body;
    out.headers = reply.headers;
    if (reply.delay.count() <= 0) return respond(std::move(out));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, reply.delay);
    timer->async_wait([timer, respond, out](const boost::system::error_code&) { respond(out); });
  });
  server_->start();
  thread_ = std::thread([this] { io_.run(); });
}

llm_stub::~llm_stub() {
  server_->stop();
  io_.stop();
  thread_.join();
}

std::string llm_stub::base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1"; }

void llm_stub::on_chat(script s) {
  std::lock_guard<std::mutex> lock(mu_);
  script_ = std::move(s);
}

int llm_stub::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(requests_.size());
}

std::vector<stub_request> llm_stub::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

stub_reply llm_stub::completion(const std::string& content, const std::string& finish_reason,
                                int prompt_tokens, int completion_tokens) {
  json::writer w;
  w.begin_object();
  w.kv("id", "chatcmpl-stub");
  w.kv("object", "chat.completion");
  w.kv("model", "stub-model");
  w.key("choices");
  w.begin_array();
  w.begin_object();
  w.kv("index", 0);
  w.key("message");
  w.begin_object();
  w.kv("role", "assistant");
  w.kv("content", content);
  w.end_object();
  w.kv("finish_reason", finish_reason);
  w.end_object();
  w.end_array();
  w.key("usage");
  w.begin_object();
  w.kv("prompt_tokens", prompt_tokens);
  w.kv("completion_tokens", completion_tokens);
  w.kv("total_tokens", prompt_tokens + completion_tokens);
  w.end_object();
  w.end_object();
  stub_reply r;
  r.body = w.take();
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

std::string llm_stub::valid_classification(const std::string& sector, const std::string& sentiment) {
  return R"({"business_sector":")" + sector +
         R"(","company_size":"medium","region":"latam_south","lead_source":"referral",)"
         R"("vambe_product":"mercur","use_case":"conversational_support",)"
         R"("primary_pain_point":"saturated_support","urgency":true,"decision_maker_role":"ceo",)"
         R"("purchase_stage":"negotiation","language":"es","lost_client_bad_meeting":false,)"
         R"("sentiment":")" + sentiment +
         R"(","confidence_score":0.81,"key_topics":["whatsapp","soporte"],)"
         R"("action_items":["enviar propuesta"],"next_steps":"Enviar propuesta el lunes.",)"
         R"("summary":"Cliente interesado en automatizar su soporte."})";
}

}  // namespace mq::test
