// ObjectReader: the api module's one way of reading a wire type's fields from JSON. Private to
// src/api (the wire types' FromJson functions use it); not part of the module's interface.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace fogkeep::api::detail {

namespace json = boost::json;

// The JSON array of `values`, each through its wire type's ToJson (found by argument lookup).
template <typename T>
json::array Objects(const std::vector<T>& values) {
  json::array out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(ToJson(v));
  return out;
}

// Reads typed fields of one JSON object, remembering the first type error. Missing fields
// keep the value they had (the struct's default): the wire tolerates omissions.
class ObjectReader {
 public:
  ObjectReader(const json::value& value, std::string_view what) : what_(what) {
    object_ = value.if_object();
    if (object_ == nullptr) Fail(std::string(what) + " must be a JSON object");
  }

  void String(std::string_view key, std::string* out) {
    const json::value* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_string()) return Mismatch(key, "a string");
    *out = std::string(v->get_string());
  }
  void Bool(std::string_view key, bool* out) {
    const json::value* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_bool()) return Mismatch(key, "true or false");
    *out = v->get_bool();
  }
  void Double(std::string_view key, double* out) {
    const json::value* v = Find(key);
    if (v == nullptr) return;
    if (v->is_double()) {
      *out = v->get_double();
    } else if (v->is_int64()) {
      *out = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
      *out = static_cast<double>(v->get_uint64());
    } else {
      Mismatch(key, "a number");
    }
  }
  template <typename Int>
  void Integer(std::string_view key, Int* out) {
    const json::value* v = Find(key);
    if (v == nullptr) return;
    if (v->is_int64()) {
      const std::int64_t n = v->get_int64();
      if (!InRange<Int>(n)) return Mismatch(key, "an integer in range");
      *out = static_cast<Int>(n);
    } else if (v->is_uint64()) {
      const std::uint64_t n = v->get_uint64();
      if (n > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) {
        return Mismatch(key, "an integer in range");
      }
      *out = static_cast<Int>(n);
    } else {
      Mismatch(key, "an integer");
    }
  }
  void Strings(std::string_view key, std::vector<std::string>* out) {
    const json::value* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_array()) return Mismatch(key, "an array of strings");
    out->clear();
    for (const json::value& item : v->get_array()) {
      if (!item.is_string()) return Mismatch(key, "an array of strings");
      out->emplace_back(item.get_string());
    }
  }
  // An array of wire objects, each read by its type's FromJson (found by argument-dependent
  // lookup in fogkeep::api).
  template <typename T>
  void Objects(std::string_view key, std::vector<T>* out) {
    const json::value* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_array()) return Mismatch(key, "an array of objects");
    out->clear();
    for (const json::value& item : v->get_array()) {
      T parsed;
      if (Status read = FromJson(item, &parsed); !read) return Fail(read.error().message());
      out->push_back(std::move(parsed));
    }
  }
  // The raw member, or null when absent or JSON null.
  const json::value* Member(std::string_view key) { return Find(key); }

  Status status() const {
    if (error_) return fogkeep::Fail(ErrorCode::kInvalidInput, *error_);
    return {};
  }

 private:
  template <typename Int>
  static bool InRange(std::int64_t n) {
    if constexpr (std::is_unsigned_v<Int>) {
      return n >= 0;
    } else {
      return n >= std::numeric_limits<Int>::min() && n <= std::numeric_limits<Int>::max();
    }
  }
  const json::value* Find(std::string_view key) {
    if (object_ == nullptr) return nullptr;
    const json::value* v = object_->if_contains(key);
    if (v == nullptr || v->is_null()) return nullptr;
    return v;
  }
  void Mismatch(std::string_view key, std::string_view expected) {
    Fail(std::string(what_) + "." + std::string(key) + " must be " + std::string(expected));
  }
  void Fail(std::string message) {
    if (!error_) error_ = std::move(message);
  }

  std::string_view what_;
  const json::object* object_ = nullptr;
  std::optional<std::string> error_;
};

}  // namespace fogkeep::api::detail
