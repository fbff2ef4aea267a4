#include "mq/actors/writers.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"
#include "mq/core/time.hpp"

namespace mq::actors {
namespace {

constexpr std::size_t max_batch = 500;

template <class Item, class Reply, class Fn>
void run_batches(std::vector<std::pair<Item, caf::typed_response_promise<Reply>>>& queue, Fn&& write) {
  auto pending = std::move(queue);
  queue.clear();
  for (std::size_t at = 0; at < pending.size(); at += max_batch) {
    auto end = std::min(pending.size(), at + max_batch);
    std::vector<Item> items;
    items.reserve(end - at);
    for (auto i = at; i < end; ++i) items.push_back(std::move(pending[i].first));
    auto results = write(items);
    for (auto i = at; i < end; ++i) {
      if (results)
        pending[i].second.deliver(Reply{std::move((*results)[i - at])});
      else
        pending[i].second.deliver(Reply{results.err()});
    }
  }
}

/// Queues `item` for the actor's next flush (sending the flush message once) and returns
/// the promise its reply will keep.
template <class Self, class Item, class Reply>
caf::result<Reply> enqueue(Self* self, std::vector<std::pair<Item, caf::typed_response_promise<Reply>>>& queue,
                           Item item) {
  auto rp = self->template make_response_promise<Reply>();
  queue.emplace_back(std::move(item), rp);
  if (!self->state.flush_queued) {
    self->state.flush_queued = true;
    self->send(self, flush_atom::value);
  }
  return rp;
}

/// Deletes a confirmed outbox group; a mark lost here only means the outbox relay
/// publishes the tasks again (workers dedupe).
void mark_group_published(store::pg_session& db, const std::string& outbox_id) {
  if (auto st = store::mark_published(db, {outbox_id}); !st)
    log::warn("outbox", "could not mark an outbox group published", {}, {{"error", st.err().internal}});
}

}  // namespace

pg_actor::behavior_type pg_writer(pg_actor::stateful_pointer<pg_state> self,
                                  std::function<std::unique_ptr<store::job_store>()> make_store) {
  self->state.store = make_store();
  // Connected now rather than by the first job; when Postgres is not up yet, the store
  // connects on first use as it always does.
  if (auto st = self->state.store->ping(); !st)
    log::warn("pg_writer", "Postgres not reachable at start; connecting on first use", {},
              {{"error", st.err().internal}});
  return {
      [=](claim_atom, store::claim_request& e) -> caf::result<claim_reply> {
        return enqueue(self, self->state.claims, std::move(e));
      },
      [=](complete_atom, store::completion& c) -> caf::result<complete_reply> {
        return enqueue(self, self->state.completions, std::move(c));
      },
      // Marks come batched already (one statement per tick of the replica's marker).
      [=](mark_atom, running_marks& m) -> mark_reply { return self->state.store->mark_running(m); },
      [=](bury_atom, store::dead_letter& d) -> bury_reply { return self->state.store->bury(d); },
      [=](state_atom, const std::string& task_id) -> state_reply { return self->state.store->status_of(task_id); },
      [=](flush_atom) {
        auto& st = self->state;
        st.flush_queued = false;
        // Completions first: they free deliveries; claims start new work.
        run_batches(st.completions, [&](const std::vector<store::completion>& items) {
          return st.store->complete(items);
        });
        run_batches(st.claims, [&](const std::vector<store::claim_request>& items) {
          return st.store->claim(items);
        });
      },
  };
}

namespace {

/// Moves the hold to `until` if that is later; logs when this starts a hold (every
/// replica says when a provider's Retry-After reached it).
void extend_hold(const shared_hold& hold, std::int64_t until) {
  auto seen = hold->load();
  while (until > seen && !hold->compare_exchange_weak(seen, until)) {}
  if (until > seen && seen <= unix_ms())
    log::warn("limiter", "provider hold in force", {}, {{"for_ms", std::to_string(until - unix_ms())}});
}

}  // namespace

limiter_actor::behavior_type limiter(limiter_actor::stateful_pointer<limiter_state> self,
                                     std::function<std::unique_ptr<store::rate_limiter>()> make_limiter,
                                     shared_hold hold) {
  self->state.limiter = make_limiter();
  self->state.hold = hold;
  if (hold) self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        if (auto left = self->state.limiter->blocked_for(); left && left->count() > 0)
          extend_hold(self->state.hold, unix_ms() + left->count());
        self->delayed_send(self, std::chrono::milliseconds(200), tick_atom::value);
      },
      [=](acquire_atom, std::string& tenant, std::int64_t tokens) -> caf::result<std::int64_t> {
        auto& st = self->state;
        auto rp = self->make_response_promise<std::int64_t>();
        st.waiting.emplace_back(store::limit_request{std::move(tenant), tokens}, rp);
        if (!st.flush_queued) {
          st.flush_queued = true;
          self->send(self, flush_atom::value);
        }
        return rp;
      },
      [=](flush_atom) {
        auto& st = self->state;
        st.flush_queued = false;
        auto waiting = std::move(st.waiting);
        st.waiting.clear();
        std::vector<store::limit_request> calls;
        for (const auto& w : waiting) calls.push_back(w.first);
        auto waits = st.limiter->acquire(calls);
        for (std::size_t i = 0; i < waiting.size(); ++i)
          waiting[i].second.deliver(waits ? (*waits)[i] : std::int64_t{0});  // fail open
      },
      [=](settle_atom, const std::string& tenant, std::int64_t estimate, std::int64_t actual) {
        self->state.limiter->settle(tenant, estimate, actual);
      },
      [=](penalize_atom, std::int64_t retry_after_ms) {
        if (self->state.hold) extend_hold(self->state.hold, unix_ms() + retry_after_ms);
        self->state.limiter->penalize(std::chrono::milliseconds(retry_after_ms));
      },
  };
}

cache_actor::behavior_type cache_writer(cache_actor::stateful_pointer<cache_state> self,
                                        std::function<std::unique_ptr<store::result_cache>()> make_cache) {
  self->state.cache = make_cache();
  return {
      [=](put_atom, cache_entries& entries) -> caf::result<bool> {
        auto& st = self->state;
        auto rp = self->make_response_promise<bool>();
        for (auto& e : entries) st.pending.push_back(std::move(e));
        st.waiting.push_back(rp);
        if (!st.flush_queued) {
          st.flush_queued = true;
          self->send(self, flush_atom::value);
        }
        return rp;
      },
      [=](flush_atom) {
        auto& st = self->state;
        st.flush_queued = false;
        auto entries = std::move(st.pending);
        auto waiting = std::move(st.waiting);
        st.pending.clear();
        st.waiting.clear();
        const bool ok = st.cache->put(entries).ok();
        for (auto& rp : waiting) rp.deliver(ok);
      },
  };
}

documents_actor::behavior_type documents_writer(documents_actor::stateful_pointer<documents_state> self,
                                                std::string conninfo) {
  self->state.db = std::make_unique<store::pg_session>(conninfo);
  return {
      [=](load_atom, std::int64_t id) -> document_reply { return store::start_document(*self->state.db, id); },
      [=](progress_atom, std::int64_t id, int done, int total) {
        if (auto st = store::document_progress(*self->state.db, id, done, total); !st)
          log::warn("documents", "could not record progress", {}, {{"error", st.err().internal}});
      },
      [=](save_atom, std::int64_t id, std::vector<store::embedded_chunk>& chunks) -> mq::status {
        return store::save_document(*self->state.db, id, chunks);
      },
      [=](fail_atom, std::int64_t id, std::string& message) -> mq::status {
        return store::fail_document(*self->state.db, id, message);
      },
  };
}

campaigns_actor::behavior_type campaigns_writer(campaigns_actor::stateful_pointer<campaigns_state> self,
                                                std::string conninfo) {
  self->state.db = std::make_unique<store::pg_session>(conninfo);
  return {
      [=](fanout_atom, std::int64_t id) -> fan_out_reply { return store::fan_out_campaign(*self->state.db, id); },
      [=](load_atom, std::int64_t id) -> caf::result<delivery_reply> { return enqueue(self, self->state.loads, id); },
      [=](sending_atom, store::sending_request& m) -> caf::result<sending_reply> {
        return enqueue(self, self->state.sendings, std::move(m));
      },
      [=](flush_atom) {
        auto& st = self->state;
        st.flush_queued = false;
        run_batches(st.sendings, [&](const std::vector<store::sending_request>& items) {
          return store::mark_sending(*st.db, items);
        });
        run_batches(st.loads, [&](const std::vector<std::int64_t>& ids) { return store::load_deliveries(*st.db, ids); });
      },
      [=](pending_atom, const store::sending_request& m) -> mq::status { return store::mark_pending(*self->state.db, m); },
      [=](published_atom, std::string& outbox_id) { mark_group_published(*self->state.db, outbox_id); },
  };
}

analytics_actor::behavior_type analytics_writer(analytics_actor::stateful_pointer<analytics_state> self,
                                                std::string conninfo) {
  self->state.db = std::make_unique<store::pg_session>(conninfo);
  return {
      [=](rollup_atom, std::int64_t id) -> rollup_reply {
        auto req = store::load_rollup_request(*self->state.db, id);
        if (!req) return req.err();
        if (!*req) return std::optional<store::rollup_outcome>{};
        auto out = store::run_rollup(*self->state.db, (*req)->tenant, (*req)->from, (*req)->to, (*req)->full);
        if (!out) return out.err();
        return std::optional<store::rollup_outcome>{*out};
      },
      [=](slot_atom, std::int64_t slot) -> slot_reply { return store::take_rollup_slot(*self->state.db, slot); },
      [=](published_atom, std::string& outbox_id) { mark_group_published(*self->state.db, outbox_id); },
  };
}

send_limiter_actor::behavior_type send_limiter(send_limiter_actor::stateful_pointer<send_limiter_state> self,
                                               std::function<std::unique_ptr<store::send_limiter>()> make) {
  self->state.limiter = make();
  return {
      [=](acquire_atom, send_limits& limits) -> std::int64_t {
        auto wait = self->state.limiter->acquire(limits);
        return wait ? *wait : 0;  // without Redis, messages go unthrottled
      },
  };
}

}  // namespace mq::actors
