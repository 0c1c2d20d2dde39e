// JsonFields: the typed members of one JSON object that a server sent (an OAuth answer, an
// OAuth client), read as untrusted input: text must be display-safe (no control characters),
// and the first problem found is the error, naming the member.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::cli {

class JsonFields {
 public:
  // The members of the JSON object `body` (at most 1 MiB); anything else is the first problem.
  // `what` starts every message ("the director's token answer:").
  JsonFields(std::string_view body, std::string what);
  JsonFields(boost::json::object object, std::string what);

  // A string member; "" when absent or null.
  std::string Text(std::string_view key);
  // The same, which must be present and not empty.
  std::string Required(std::string_view key);
  // An array of strings; empty when absent.
  std::vector<std::string> Texts(std::string_view key);
  // A positive number of seconds (at most ~280 years); `fallback` when absent.
  std::int64_t Seconds(std::string_view key, std::int64_t fallback);
  // A non-negative integer; 0 when absent.
  std::int64_t Count(std::string_view key);
  // Whether the member is `true`; anything else is false.
  bool Flag(std::string_view key);
  // The member itself, or nullptr when absent.
  const boost::json::value* Member(std::string_view key) const { return object_.if_contains(key); }

  // Records a problem of the caller's own (the first one wins).
  void Problem(std::string_view key, std::string_view what);
  // kInvalidInput with the first problem, if any.
  Status status() const;

 private:
  const std::string what_;
  boost::json::object object_;
  std::optional<std::string> error_;
};

}  // namespace fogkeep::cli
