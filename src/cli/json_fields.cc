#include "cli/json_fields.h"

#include <boost/json.hpp>

#include "api/node.h"         // ParseJson
#include "cli/credentials.h"  // IsDisplaySafe

namespace fogkeep::cli {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxBodyBytes = 1 << 20;
// Year 2255: within what a nanosecond system_clock holds, so no conversion overflows.
constexpr std::int64_t kMaxSeconds = 9'000'000'000;

}  // namespace

JsonFields::JsonFields(std::string_view body, std::string what) : what_(std::move(what)) {
  Result<json::value> parsed = api::ParseJson(body, kMaxBodyBytes);
  if (!parsed) {
    error_ = what_ + " is not JSON: " + parsed.error().message();
  } else if (!parsed->is_object()) {
    error_ = what_ + " is not a JSON object";
  } else {
    object_ = std::move(parsed->get_object());
  }
}

JsonFields::JsonFields(json::object object, std::string what)
    : what_(std::move(what)), object_(std::move(object)) {}

std::string JsonFields::Text(std::string_view key) {
  const json::value* v = object_.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_string()) {
    Problem(key, "must be a string");
    return {};
  }
  std::string text(v->get_string());
  if (!IsDisplaySafe(text)) {
    Problem(key, "holds control characters or is too long");
    return {};
  }
  return text;
}

std::string JsonFields::Required(std::string_view key) {
  std::string text = Text(key);
  if (text.empty()) Problem(key, "is missing");
  return text;
}

std::vector<std::string> JsonFields::Texts(std::string_view key) {
  std::vector<std::string> out;
  const json::value* v = object_.if_contains(key);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) {
    Problem(key, "must be an array of strings");
    return out;
  }
  for (const json::value& item : v->get_array()) {
    if (!item.is_string() || !IsDisplaySafe(item.get_string())) {
      Problem(key, "must be an array of printable strings");
      return {};
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

std::int64_t JsonFields::Seconds(std::string_view key, std::int64_t fallback) {
  const json::value* v = object_.if_contains(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_int64() || v->get_int64() <= 0 || v->get_int64() > kMaxSeconds) {
    Problem(key, "must be a positive number of seconds");
    return fallback;
  }
  return v->get_int64();
}

std::int64_t JsonFields::Count(std::string_view key) {
  const json::value* v = object_.if_contains(key);
  if (v == nullptr || v->is_null()) return 0;
  if (!v->is_int64() || v->get_int64() < 0) {
    Problem(key, "must be a non-negative integer");
    return 0;
  }
  return v->get_int64();
}

bool JsonFields::Flag(std::string_view key) {
  const json::value* v = object_.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

void JsonFields::Problem(std::string_view key, std::string_view what) {
  if (!error_) error_ = what_ + " " + std::string(key) + " " + std::string(what);
}

Status JsonFields::status() const {
  if (error_) return Fail(ErrorCode::kInvalidInput, *error_);
  return {};
}

}  // namespace fogkeep::cli
