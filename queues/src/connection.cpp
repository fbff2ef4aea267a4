#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <cstring>
#include <map>

#include "mq/config/config.hpp"
#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/socket.hpp"
#include "mq/core/time.hpp"
#include "mq/queues/amqp.hpp"

namespace mq::queues {
namespace {

constexpr amqp_channel_t main_channel = 1;
constexpr amqp_channel_t stats_channel = 2;

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

timeval to_timeval(std::chrono::milliseconds d) {
  if (d.count() < 0) d = std::chrono::milliseconds(0);
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

amqp_table_entry_t text_entry(const char* key, const char* value) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = amqp_cstring_bytes(value);
  return e;
}

void write_field(json::writer& w, const amqp_field_value_t& v);

void write_table(json::writer& w, const amqp_table_t& t) {
  w.begin_object();
  for (int i = 0; i < t.num_entries; ++i) {
    w.key(str(t.entries[i].key));
    write_field(w, t.entries[i].value);
  }
  w.end_object();
}

/// A header value as JSON (x-death is an array of tables); timestamps as RFC 3339.
void write_field(json::writer& w, const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: w.value(str(v.value.bytes)); break;
    case AMQP_FIELD_KIND_BOOLEAN: w.value(v.value.boolean != 0); break;
    case AMQP_FIELD_KIND_I8: w.value(static_cast<long long>(v.value.i8)); break;
    case AMQP_FIELD_KIND_U8: w.value(static_cast<long long>(v.value.u8)); break;
    case AMQP_FIELD_KIND_I16: w.value(static_cast<long long>(v.value.i16)); break;
    case AMQP_FIELD_KIND_U16: w.value(static_cast<long long>(v.value.u16)); break;
    case AMQP_FIELD_KIND_I32: w.value(static_cast<long long>(v.value.i32)); break;
    case AMQP_FIELD_KIND_U32: w.value(static_cast<long long>(v.value.u32)); break;
    case AMQP_FIELD_KIND_I64: w.value(static_cast<long long>(v.value.i64)); break;
    case AMQP_FIELD_KIND_U64: w.value(static_cast<long long>(v.value.u64)); break;
    case AMQP_FIELD_KIND_TIMESTAMP:
      w.value(format_rfc3339(sys_time(std::chrono::seconds(v.value.u64))));
      break;
    case AMQP_FIELD_KIND_ARRAY:
      w.begin_array();
      for (int i = 0; i < v.value.array.num_entries; ++i) write_field(w, v.value.array.entries[i]);
      w.end_array();
      break;
    case AMQP_FIELD_KIND_TABLE: write_table(w, v.value.table); break;
    default: w.null(); break;
  }
}

std::string describe(amqp_rpc_reply_t r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "connection closed by broker: " + std::to_string(m->reply_code) + " " + str(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "channel closed by broker: " + std::to_string(m->reply_code) + " " + str(m->reply_text);
      }
      return "broker error";
  }
  return "unknown reply";
}

}  // namespace

const std::vector<std::string>& topology::kinds() {
  static const std::vector<std::string> all{"classify_meeting", "process_document", "start_campaign", "send_message", "rollup_analytics"};
  return all;
}

bool topology::is_bulk(std::string_view queue) {
  return queue.size() > bulk_suffix.size() && queue.substr(queue.size() - bulk_suffix.size()) == bulk_suffix;
}

std::string topology::kind_of(std::string_view q) const {
  if (q.size() <= prefix.size() + 1 || q.substr(0, prefix.size()) != prefix) return {};
  auto kind = q.substr(prefix.size() + 1);
  if (is_bulk(kind)) kind.remove_suffix(bulk_suffix.size());
  return std::string(kind);
}

std::vector<std::string> topology::job_queues() const {
  std::vector<std::string> names;
  for (const auto& k : kinds()) names.push_back(queue(k));
  for (const auto& k : kinds()) names.push_back(bulk_queue(k));
  return names;
}

std::vector<std::string> topology::consumed_queues() const {
  auto names = job_queues();
  names.push_back(dead_queue());
  return names;
}

const std::vector<long long>& topology::delay_tiers() {
  static const std::vector<long long> tiers = [] {
    std::vector<long long> t;
    for (long long ms = 1000; ms <= 4096000; ms *= 2) t.push_back(ms);
    return t;
  }();
  return tiers;
}

long long topology::tier_for(long long delay_ms) {
  long long best = delay_tiers().front();
  for (auto t : delay_tiers())
    if (t <= delay_ms) best = t;
  return best;
}

struct connection::impl {
  config::amqp_config cfg;
  topology topo;
  amqp_connection_state_t conn = nullptr;
  bool stats_channel_open = false;
  std::uint64_t next_tag = 1;
  std::map<std::string, std::string> consumers;  // consumer tag -> queue

  status lost(const std::string& what) {
    log::warn("amqp", "connection lost", {}, {{"during", what}});
    teardown(false);
    return make_error(errc::unavailable, "message broker unavailable", what);
  }

  status check(amqp_rpc_reply_t r, const std::string& what) {
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return ok_status();
    return lost(what + ": " + describe(r));
  }

  status check_rpc(const std::string& what) { return check(amqp_get_rpc_reply(conn), what); }

  void teardown(bool polite) {
    if (!conn) return;
    if (polite) {
      amqp_channel_close(conn, main_channel, AMQP_REPLY_SUCCESS);
      amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(conn);
    conn = nullptr;
    stats_channel_open = false;
    consumers.clear();
  }

  status declare_queue(const std::string& name, bool dead_letter) {
    const std::string dlx = topo.dead_exchange();  // outlives the table that points into it
    std::vector<amqp_table_entry_t> args{text_entry("x-queue-type", "quorum")};
    if (dead_letter) {
      amqp_table_entry_t limit;
      limit.key = amqp_cstring_bytes("x-delivery-limit");
      limit.value.kind = AMQP_FIELD_KIND_I32;
      limit.value.value.i32 = cfg.delivery_limit;
      args.push_back(limit);
      args.push_back(text_entry("x-dead-letter-exchange", dlx.c_str()));
      // At-least-once dead-lettering: a dead letter is never dropped on the way.
      args.push_back(text_entry("x-dead-letter-strategy", "at-least-once"));
      args.push_back(text_entry("x-overflow", "reject-publish"));
    }
    amqp_table_t table{static_cast<int>(args.size()), args.data()};
    amqp_queue_declare(conn, main_channel, bytes(name), 0, 1, 0, 0, table);
    return check_rpc("declare queue " + name);
  }

  status declare_topology() {
    amqp_exchange_declare(conn, main_channel, bytes(topo.jobs_exchange()), amqp_cstring_bytes("direct"),
                          0, 1, 0, 0, amqp_empty_table);
    if (auto st = check_rpc("declare exchange"); !st) return st;
    amqp_exchange_declare(conn, main_channel, bytes(topo.dead_exchange()), amqp_cstring_bytes("fanout"),
                          0, 1, 0, 0, amqp_empty_table);
    if (auto st = check_rpc("declare dead-letter exchange"); !st) return st;
    if (auto st = declare_queue(topo.dead_queue(), false); !st) return st;
    amqp_queue_bind(conn, main_channel, bytes(topo.dead_queue()), bytes(topo.dead_exchange()),
                    amqp_empty_bytes, amqp_empty_table);
    if (auto st = check_rpc("bind dead-letter queue"); !st) return st;
    for (const auto& kind : topology::kinds())
      for (const auto& [q, key] : {std::pair{topo.queue(kind), kind},
                                   std::pair{topo.bulk_queue(kind), topology::bulk_key(kind)}}) {
        if (auto st = declare_queue(q, true); !st) return st;
        amqp_queue_bind(conn, main_channel, bytes(q), bytes(topo.jobs_exchange()), bytes(key), amqp_empty_table);
        if (auto st = check_rpc("bind " + q); !st) return st;
      }
    return declare_delays();
  }

  status declare_delays() {
    amqp_exchange_declare(conn, main_channel, bytes(topo.delay_exchange()), amqp_cstring_bytes("headers"),
                          0, 1, 0, 0, amqp_empty_table);
    if (auto st = check_rpc("declare delay exchange"); !st) return st;
    const std::string jobs = topo.jobs_exchange();
    for (auto tier : topology::delay_tiers()) {
      const std::string q = topo.delay_queue(tier), tier_text = std::to_string(tier);
      amqp_table_entry_t args[2];
      args[0].key = amqp_cstring_bytes("x-message-ttl");
      args[0].value.kind = AMQP_FIELD_KIND_I64;
      args[0].value.value.i64 = tier;
      args[1] = text_entry("x-dead-letter-exchange", jobs.c_str());
      amqp_queue_declare(conn, main_channel, bytes(q), 0, 1, 0, 0, amqp_table_t{2, args});
      if (auto st = check_rpc("declare " + q); !st) return st;
      amqp_table_entry_t match[2] = {text_entry("x-match", "all"), text_entry("mq-delay", tier_text.c_str())};
      amqp_queue_bind(conn, main_channel, bytes(q), bytes(topo.delay_exchange()), amqp_empty_bytes,
                      amqp_table_t{2, match});
      if (auto st = check_rpc("bind " + q); !st) return st;
    }
    return ok_status();
  }
};

connection::connection(const config::amqp_config& cfg, topology topo)
    : impl_(std::make_unique<impl>()) {
  impl_->cfg = cfg;
  impl_->topo = std::move(topo);
}

connection::~connection() { close(); }

bool connection::is_open() const { return impl_->conn != nullptr; }

int connection::socket_fd() const { return impl_->conn ? amqp_get_sockfd(impl_->conn) : -1; }

bool connection::has_buffered() const {
  return impl_->conn && (amqp_data_in_buffer(impl_->conn) || amqp_frames_enqueued(impl_->conn));
}

void connection::close() { impl_->teardown(true); }

status connection::open() {
  auto& d = *impl_;
  d.teardown(false);
  d.conn = amqp_new_connection();
  amqp_socket_t* sock = amqp_tcp_socket_new(d.conn);
  if (!sock) return d.lost("create socket");
  timeval tv = to_timeval(std::chrono::milliseconds(d.cfg.connect_timeout_ms));
  int rc = amqp_socket_open_noblock(sock, d.cfg.host.c_str(), d.cfg.port, &tv);
  if (rc != AMQP_STATUS_OK) return d.lost(std::string("connect: ") + amqp_error_string2(rc));
  if (connected_to_itself(amqp_get_sockfd(d.conn))) return d.lost("connect: nothing listens (connected to itself)");
  auto login = amqp_login(d.conn, d.cfg.vhost.c_str(), 0, 131072, d.cfg.heartbeat_seconds,
                          AMQP_SASL_METHOD_PLAIN, d.cfg.user.c_str(), d.cfg.password.c_str());
  if (auto st = d.check(login, "login"); !st) return st;
  amqp_channel_open(d.conn, main_channel);
  if (auto st = d.check_rpc("open channel"); !st) return st;
  d.next_tag = 1;
  return d.declare_topology();
}

result<queue_stats> connection::stats(const std::string& queue) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  if (!d.stats_channel_open) {
    amqp_channel_open(d.conn, stats_channel);
    if (auto st = d.check_rpc("open stats channel"); !st) return st.err();
    d.stats_channel_open = true;
  }
  auto* ok = amqp_queue_declare(d.conn, stats_channel, bytes(queue), 1, 0, 0, 0, amqp_empty_table);
  if (ok) return queue_stats{queue, ok->message_count, ok->consumer_count};
  auto r = amqp_get_rpc_reply(d.conn);
  if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    amqp_channel_close_ok_t close_ok{};
    amqp_send_method(d.conn, stats_channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
    d.stats_channel_open = false;
    return make_error(errc::not_found, "no queue " + queue);
  }
  return d.check(r, "queue stats").err();
}

status connection::delete_topology() {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  auto names = d.topo.consumed_queues();
  for (auto tier : topology::delay_tiers()) names.push_back(d.topo.delay_queue(tier));
  for (const auto& q : names) {
    amqp_queue_delete(d.conn, main_channel, bytes(q), 0, 0);
    if (auto st = d.check_rpc("delete queue " + q); !st) return st;
  }
  for (const auto& x : {d.topo.jobs_exchange(), d.topo.dead_exchange(), d.topo.delay_exchange()}) {
    amqp_exchange_delete(d.conn, main_channel, bytes(x), 0);
    if (auto st = d.check_rpc("delete exchange " + x); !st) return st;
  }
  return ok_status();
}

status connection::consume(const std::vector<std::pair<std::string, int>>& queues) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  int prefetch = -1;
  for (const auto& [q, bound] : queues) {
    // Per consumer (global = 0): applies to the consumers started after it.
    if (bound != prefetch) {
      prefetch = bound;
      amqp_basic_qos(d.conn, main_channel, 0, static_cast<std::uint16_t>(prefetch), 0);
      if (auto st = d.check_rpc("set prefetch"); !st) return st;
    }
    auto* ok = amqp_basic_consume(d.conn, main_channel, bytes(q), amqp_empty_bytes, 0, 0, 0,
                                  amqp_empty_table);
    if (auto st = d.check_rpc("consume " + q); !st) return st;
    d.consumers[str(ok->consumer_tag)] = q;
  }
  return ok_status();
}

result<std::optional<delivery>> connection::next(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  amqp_maybe_release_buffers(d.conn);
  amqp_envelope_t env;
  timeval tv = to_timeval(timeout);
  auto r = amqp_consume_message(d.conn, &env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) {
    delivery out;
    out.tag = env.delivery_tag;
    out.routing_key = str(env.routing_key);
    out.redelivered = env.redelivered != 0;
    auto it = d.consumers.find(str(env.consumer_tag));
    if (it != d.consumers.end()) out.queue = it->second;
    out.body = str(env.message.body);
    const auto& p = env.message.properties;
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) out.message_id = str(p.message_id);
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const auto& e = p.headers.entries[i];
        auto key = str(e.key);
        switch (e.value.kind) {
          case AMQP_FIELD_KIND_UTF8:
          case AMQP_FIELD_KIND_BYTES:
            out.headers.emplace_back(key, str(e.value.value.bytes));
            break;
          case AMQP_FIELD_KIND_I64:
            if (key == "x-delivery-count") out.delivery_count = e.value.value.i64;
            break;
          case AMQP_FIELD_KIND_I32:
            if (key == "x-delivery-count") out.delivery_count = e.value.value.i32;
            break;
          case AMQP_FIELD_KIND_U32:
            if (key == "x-delivery-count") out.delivery_count = e.value.value.u32;
            break;
          case AMQP_FIELD_KIND_ARRAY:
          case AMQP_FIELD_KIND_TABLE: {
            // Structured headers (x-death: how a dead letter got here) travel as JSON.
            json::writer w;
            write_field(w, e.value);
            out.headers.emplace_back(key, w.take());
            break;
          }
          default:
            break;
        }
      }
    }
    amqp_destroy_envelope(&env);
    return std::optional<delivery>(std::move(out));
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
    return std::optional<delivery>{};
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    amqp_frame_t frame;
    if (amqp_simple_wait_frame(d.conn, &frame) != AMQP_STATUS_OK) return d.lost("read frame").err();
    if (frame.frame_type == AMQP_FRAME_METHOD) {
      switch (frame.payload.method.id) {
        case AMQP_BASIC_RETURN_METHOD: {
          amqp_message_t msg;
          if (amqp_read_message(d.conn, frame.channel, &msg, 0).reply_type == AMQP_RESPONSE_NORMAL)
            amqp_destroy_message(&msg);
          break;
        }
        case AMQP_BASIC_CANCEL_METHOD:
          return d.lost("consumer cancelled by broker").err();
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          return d.lost("closed by broker").err();
        default:
          break;
      }
    }
    return std::optional<delivery>{};
  }
  return d.check(r, "consume").err();
}

status connection::ack(std::uint64_t tag, bool multiple) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  if (amqp_basic_ack(d.conn, main_channel, tag, multiple ? 1 : 0) != AMQP_STATUS_OK) return d.lost("ack");
  return ok_status();
}

status connection::nack(std::uint64_t tag, bool requeue) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  if (amqp_basic_nack(d.conn, main_channel, tag, 0, requeue ? 1 : 0) != AMQP_STATUS_OK)
    return d.lost("nack");
  return ok_status();
}

status connection::cancel_consumers() {
  auto& d = *impl_;
  if (!d.conn) return ok_status();
  auto tags = d.consumers;
  for (const auto& [tag, queue] : tags) {
    amqp_basic_cancel(d.conn, main_channel, bytes(tag));
    if (auto st = d.check_rpc("cancel consumer"); !st) return st;
    d.consumers.erase(tag);
  }
  return ok_status();
}

status connection::enable_confirms() {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  amqp_confirm_select(d.conn, main_channel);
  if (auto st = d.check_rpc("confirm select"); !st) return st;
  d.next_tag = 1;
  return ok_status();
}

result<std::uint64_t> connection::publish(const std::vector<outgoing>& msgs) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  const std::uint64_t first = d.next_tag;
  const std::string jobs = d.topo.jobs_exchange();
  for (const auto& m : msgs) {
    std::vector<amqp_table_entry_t> headers;
    for (const auto& [k, v] : m.headers) {
      amqp_table_entry_t e;
      e.key = bytes(k);
      e.value.kind = AMQP_FIELD_KIND_UTF8;
      e.value.value.bytes = bytes(v);
      headers.push_back(e);
    }
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = bytes(m.message_id);
    props.headers = amqp_table_t{static_cast<int>(headers.size()), headers.data()};
    const std::string& exchange = m.exchange.empty() ? jobs : m.exchange;
    int rc = amqp_basic_publish(d.conn, main_channel, bytes(exchange), bytes(m.routing_key), 1, 0,
                                &props, bytes(m.body));
    if (rc != AMQP_STATUS_OK) return d.lost(std::string("publish: ") + amqp_error_string2(rc)).err();
    ++d.next_tag;
  }
  return first;
}

result<std::optional<connection::confirm_event>> connection::next_confirm(
    std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (!d.conn) return make_error(errc::unavailable, "message broker unavailable");
  amqp_frame_t frame;
  timeval tv = to_timeval(timeout);
  int rc = amqp_simple_wait_frame_noblock(d.conn, &frame, &tv);
  if (rc == AMQP_STATUS_TIMEOUT) return std::optional<confirm_event>{};
  if (rc != AMQP_STATUS_OK) return d.lost(std::string("wait confirm: ") + amqp_error_string2(rc)).err();
  if (frame.frame_type != AMQP_FRAME_METHOD) return std::optional<confirm_event>{};
  confirm_event ev;
  switch (frame.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
      ev.kind = confirm_event::ack;
      ev.tag = a->delivery_tag;
      ev.multiple = a->multiple != 0;
      return std::optional<confirm_event>(ev);
    }
    case AMQP_BASIC_NACK_METHOD: {
      auto* n = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
      ev.kind = confirm_event::nack;
      ev.tag = n->delivery_tag;
      ev.multiple = n->multiple != 0;
      return std::optional<confirm_event>(ev);
    }
    case AMQP_BASIC_RETURN_METHOD: {
      amqp_message_t msg;
      auto r = amqp_read_message(d.conn, frame.channel, &msg, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) return d.check(r, "read returned message").err();
      ev.kind = confirm_event::returned;
      if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) ev.message_id = str(msg.properties.message_id);
      amqp_destroy_message(&msg);
      return std::optional<confirm_event>(ev);
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
      return d.lost("closed by broker").err();
    default:
      return std::optional<confirm_event>{};
  }
}

}  // namespace mq::queues
