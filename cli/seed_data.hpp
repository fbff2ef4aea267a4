#pragma once

#include <string>
#include <vector>

#include "mq/store/pg_session.hpp"

namespace mq::cli {

/// `mqctl seed-data [--tenant NAME] [--meetings N] [--days D] [--seed S]`: stores N
/// synthetic meetings (default 1000) for tenant NAME (default "seed", created with a key
/// when missing: printed on the last line), spread over the last D days (default 365),
/// with about N/4 clients, 20 sellers and transcripts that mix sectors, products, pain
/// points, lead sources, sentiment and urgency the way real sales calls do. The same
/// seed makes the same data.
int seed_data(store::pg_session& db, std::vector<std::string> args);

}  // namespace mq::cli
