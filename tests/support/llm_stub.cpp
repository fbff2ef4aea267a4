#include "llm_stub.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include "mq/core/json.hpp"
#include "mq/core/process.hpp"

namespace mq::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

std::string raw_head(const stub_reply& r, std::size_t length) {
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                     std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(r.status))) + "\r\n";
  bool has_type = false;
  for (const auto& [k, v] : r.headers) {
    head += k + ": " + v + "\r\n";
    has_type = has_type || beast::iequals(k, "content-type");
  }
  if (!has_type) head += "Content-Type: application/json\r\n";
  head += "Content-Length: " + std::to_string(length) + "\r\n\r\n";
  return head;
}

/// Deterministic embeddings for every input of an /v1/embeddings request.
std::string embeddings_body(const std::string& request) {
  auto doc = json::parse(request);
  std::vector<std::string> inputs;
  if (doc && doc->IsObject() && doc->HasMember("input")) {
    const auto& in = (*doc)["input"];
    if (in.IsString()) inputs.emplace_back(in.GetString());
    if (in.IsArray())
      for (const auto& v : in.GetArray())
        if (v.IsString()) inputs.emplace_back(v.GetString());
  }
  json::writer w;
  w.begin_object();
  w.kv("object", "list");
  w.key("data");
  w.begin_array();
  int tokens = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    w.begin_object();
    w.kv("object", "embedding");
    w.kv("index", static_cast<int>(i));
    w.key("embedding");
    w.begin_array();
    std::size_t h = std::hash<std::string>{}(inputs[i]);
    for (int d = 0; d < 8; ++d) w.value(static_cast<double>((h >> (d * 4)) & 0xf) / 15.0 - 0.5);
    w.end_array();
    w.end_object();
    tokens += static_cast<int>(inputs[i].size() / 4 + 1);
  }
  w.end_array();
  w.kv("model", "stub-embed");
  w.key("usage");
  w.begin_object();
  w.kv("prompt_tokens", tokens);
  w.kv("total_tokens", tokens);
  w.end_object();
  w.end_object();
  return w.take();
}

}  // namespace

struct llm_stub::impl {
  llm_stub& owner;
  net::io_context io;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::mutex hung_mu;
  std::vector<std::shared_ptr<tcp::socket>> hung;  // held open until the stub goes away

  impl(llm_stub& o, unsigned short port, int n) : owner(o), acceptor(io) {
    tcp::endpoint ep{net::ip::make_address("127.0.0.1"), port};
    acceptor.open(ep.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(4096);
    accept();
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { io.run(); });
  }

  ~impl() {
    io.stop();
    for (auto& t : threads) t.join();
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      ++owner.connections_;
      s.set_option(tcp::no_delay(true), ec);
      // Room for a whole request: Beast reads no more than the buffer's free capacity,
      // and a buffer left to grow by itself took a 9 KB prompt in 14 reads.
      auto buf = std::make_shared<beast::flat_buffer>();
      buf->reserve(64 << 10);
      serve(std::make_shared<tcp::socket>(std::move(s)), std::move(buf));
      accept();
    });
  }

  void serve(std::shared_ptr<tcp::socket> sock, std::shared_ptr<beast::flat_buffer> buf) {
    auto parser = std::make_shared<bhttp::request_parser<bhttp::string_body>>();
    parser->body_limit(64 << 20);
    bhttp::async_read(*sock, *buf, *parser, [this, sock, buf, parser](beast::error_code ec, std::size_t) {
      if (ec) return;
      auto msg = parser->release();
      stub_request req{std::string(msg.target()), std::move(msg.body()), std::string(msg[bhttp::field::authorization]),
                       std::chrono::steady_clock::now(), {}};
      for (const auto& f : msg) {
        std::string name(f.name_string());
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        req.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      stub_reply reply;
      script other;
      {
        std::lock_guard<std::mutex> lock(owner.mu_);
        for (const auto& [path, fn] : owner.paths_)
          if (path == req.path) other = fn;
      }
      if (other) {
        reply = other(req, 0);
      } else if (req.path == "/v1/embeddings") {
        script s;
        int n;
        {
          std::lock_guard<std::mutex> lock(owner.mu_);
          n = ++owner.embedding_calls_;
          s = owner.embed_script_;
        }
        if (s)
          reply = s(req, n);
        else
          reply.body = embeddings_body(req.body);
      } else if (req.path == "/stats") {
        // Not a model call: answered at once, outside the counters.
        json::writer w;
        w.begin_object();
        w.kv("calls", owner.calls());
        w.kv("in_flight", owner.in_flight_.load());
        w.kv("max_in_flight", owner.max_in_flight_.load());
        w.kv("connections", owner.connections_.load());
        w.end_object();
        reply.body = w.take();
        auto text = std::make_shared<std::string>(raw_head(reply, reply.body.size()) + reply.body);
        net::async_write(*sock, net::buffer(*text), [this, sock, buf, text](beast::error_code ec, std::size_t) {
          if (!ec) serve(sock, buf);
        });
        return;
      } else if (req.path == "/v1/chat/completions") {
        script s;
        int n;
        {
          std::lock_guard<std::mutex> lock(owner.mu_);
          n = ++owner.calls_;
          if (owner.keep_requests_) owner.requests_.push_back(req);
          s = owner.script_;
        }
        reply = s(req, n);
      } else {
        reply = stub_reply::error(404, R"({"error":{"message":"no such endpoint"}})");
      }
      int now = ++owner.in_flight_;
      int seen = owner.max_in_flight_;
      while (now > seen && !owner.max_in_flight_.compare_exchange_weak(seen, now)) {}
      if (reply.delay.count() <= 0) return act(sock, buf, reply);
      auto timer = std::make_shared<net::steady_timer>(io, reply.delay);
      timer->async_wait([this, sock, buf, reply, timer](beast::error_code) { act(sock, buf, reply); });
    });
  }

  void done() { --owner.in_flight_; }

  void act(std::shared_ptr<tcp::socket> sock, std::shared_ptr<beast::flat_buffer> buf, const stub_reply& r) {
    switch (r.act) {
      case stub_reply::action::reset: {
        done();
        beast::error_code ec;
        sock->set_option(net::socket_base::linger(true, 0), ec);
        sock->close(ec);
        return;
      }
      case stub_reply::action::hang: {
        std::lock_guard<std::mutex> lock(hung_mu);
        hung.push_back(sock);
        return;  // still "in flight" from the client's point of view
      }
      case stub_reply::action::respond: {
        auto text = r.prepared ? r.prepared : std::make_shared<const std::string>(r.wire());
        net::async_write(*sock, net::buffer(*text), [this, sock, buf, text](beast::error_code ec, std::size_t) {
          done();
          if (!ec) serve(sock, buf);
        });
        return;
      }
      case stub_reply::action::drip: {
        auto head = std::make_shared<std::string>(raw_head(r, r.body.size()));
        net::async_write(*sock, net::buffer(*head), [this, sock, r, head](beast::error_code ec, std::size_t) {
          if (ec) return done();
          drip(sock, std::make_shared<std::string>(r.body), 0, r);
        });
        return;
      }
    }
  }

  void drip(std::shared_ptr<tcp::socket> sock, std::shared_ptr<std::string> body, std::size_t at, stub_reply r) {
    if (at >= body->size()) return done();
    auto timer = std::make_shared<net::steady_timer>(io, r.drip_every);
    timer->async_wait([this, sock, body, at, r, timer](beast::error_code) {
      auto n = std::min(r.drip_bytes, body->size() - at);
      net::async_write(*sock, net::buffer(body->data() + at, n), [this, sock, body, at, n, r](beast::error_code ec, std::size_t) {
        if (ec) return done();
        drip(sock, body, at + n, r);
      });
    });
  }
};

void llm_stub::classify_after(std::chrono::milliseconds delay) {
  on_chat([delay](const stub_request&, int) {
    auto r = completion(valid_classification());
    r.delay = delay;
    return r;
  });
}

std::string stub_reply::wire() const { return raw_head(*this, body.size()) + body; }

llm_stub::llm_stub(unsigned short port, int threads) {
  raise_fd_limit();
  script_ = [](const stub_request&, int) { return completion(valid_classification()); };
  impl_ = std::make_unique<impl>(*this, port, threads);
}

llm_stub::~llm_stub() = default;

unsigned short llm_stub::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string llm_stub::base_url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }

void llm_stub::on_chat(script s) {
  std::lock_guard<std::mutex> lock(mu_);
  script_ = std::move(s);
}

stub_reply llm_stub::embeddings(const stub_request& req) {
  stub_reply r;
  r.body = embeddings_body(req.body);
  return r;
}

void llm_stub::on_path(const std::string& path, script s) {
  std::lock_guard<std::mutex> lock(mu_);
  paths_.emplace_back(path, std::move(s));
}

void llm_stub::on_embeddings(script s) {
  std::lock_guard<std::mutex> lock(mu_);
  embed_script_ = std::move(s);
}

int llm_stub::embedding_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return embedding_calls_;
}

int llm_stub::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
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
