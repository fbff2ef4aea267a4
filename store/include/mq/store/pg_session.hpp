#pragma once

#include <memory>
#include <string>

#include "mq/core/error.hpp"

namespace mq::store {

/// One Postgres connection, owned by exactly one thread (a pool thread or a detached
/// actor). Connects lazily and reconnects on the next use after the connection broke.
/// All repository functions take a pg_session& and translate every libpqxx failure into
/// an mq::error: lost connection -> unavailable, unique violation -> conflict, bad data
/// -> validation_failed, anything else -> internal.
class pg_session {
 public:
  /// `on_connect` runs on every new connection (session settings).
  explicit pg_session(std::string conninfo, std::string on_connect = {});
  ~pg_session();
  pg_session(const pg_session&) = delete;
  pg_session& operator=(const pg_session&) = delete;

  /// Runs "SELECT 1"; unavailable if the server cannot be reached.
  status ping();

  /// Creates the schema named in the connection's search_path if missing and applies
  /// the embedded migrations not yet applied, under an advisory lock so concurrent
  /// replicas migrate once.
  status migrate(const std::string& schema);

  struct impl;
  impl& internals() { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace mq::store
