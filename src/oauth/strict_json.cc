#include "oauth/strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <cstdint>
#include <exception>
#include <string>
#include <unordered_set>
#include <vector>

namespace fogkeep::oauth::detail {
namespace {

namespace json = boost::json;

// A basic_parser handler that builds nothing and only remembers the member names of each open
// object, to find the first name that repeats.
class DuplicateNames {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  bool found() const { return found_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    if (!open_.back().insert(std::move(key_)).second) {
      found_ = true;
      ec = json::error::syntax;  // stops the parser; found_ says why
      return false;
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::vector<std::unordered_set<std::string>> open_;  // one set per object being parsed
  std::string key_;                                    // the member name being read
  bool found_ = false;
};

}  // namespace

Result<json::object> ParseStrictObject(std::string_view text, std::size_t max_depth,
                                       std::string_view what) {
  const std::string prefix = std::string(what) + ": ";
  json::parse_options options;
  options.max_depth = max_depth;
  json::error_code ec;
  json::value value;
  // Both parsers report syntax through `ec`; what can still throw is allocation.
  try {
    json::basic_parser<DuplicateNames> names(options);
    names.write_some(false, text.data(), text.size(), ec);
    if (names.handler().found()) {
      return Fail(ErrorCode::kInvalidInput, prefix + "a member name appears twice");
    }
    if (!ec) value = json::parse(text, ec, {}, options);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidInput, prefix + "invalid JSON: " + e.what());
  }
  if (ec) return Fail(ErrorCode::kInvalidInput, prefix + "invalid JSON: " + ec.message());
  json::object* object = value.if_object();
  if (object == nullptr) return Fail(ErrorCode::kInvalidInput, prefix + "not a JSON object");
  return std::move(*object);
}

Result<const json::string*> StringMember(const json::object& object, std::string_view name,
                                         ErrorCode code, std::string_view where) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr) return nullptr;
  const json::string* text = value->if_string();
  if (text == nullptr) {
    return Fail(code, std::string(where) + std::string(name) + " must be a string");
  }
  return text;
}

}  // namespace fogkeep::oauth::detail
