#pragma once

// multipart/form-data bodies (RFC 7578), for document uploads.

#include <string>
#include <string_view>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::api {

/// One field of a form: a value, or a file with its name and type.
struct form_part {
  std::string name;
  std::string filename;      ///< Empty for plain fields.
  std::string content_type;  ///< As sent (empty when not given).
  std::string body;
};

/// The parts of `body`, given the request's Content-Type (which names the boundary);
/// errc::invalid_parameter when the form is malformed.
result<std::vector<form_part>> parse_form(std::string_view body, std::string_view content_type);

/// The media type of a Content-Type value, lower-cased, without parameters.
std::string media_type(std::string_view content_type);

}  // namespace mq::api
