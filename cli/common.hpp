#pragma once

// What every mqctl command shares: its exit statuses and its argument helpers.
//
// Exit status: 0 done, 1 refused, 64 usage, 66 not found, 69 a service is unavailable.

#include <string>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::cli {

/// Prints "usage: mqctl <usage>"; returns 64.
int usage_error(const std::string& usage);
/// Prints the error (and its detail); returns 69 when a service is unavailable, 66 when
/// something named does not exist, 1 otherwise.
int report(const error& e);
/// The value after `name`, removed from `args` with it; `fallback` when absent.
std::string take_flag(std::vector<std::string>& args, const std::string& name, const std::string& fallback = "");
/// Whether `name` was given, removed from `args`.
bool take_switch(std::vector<std::string>& args, const std::string& name);

}  // namespace mq::cli
