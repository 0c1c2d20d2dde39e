// Private to src/oauth: reading JOSE JSON (JWS headers, JWT claims sets, JWK Sets) from
// untrusted text. Not part of the module's interface.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <cstddef>
#include <string_view>

#include "core/error.h"

namespace fogkeep::oauth::detail {

// Parses `text` as one JSON object. Beyond Boost.JSON's own checks (RFC 8259 syntax, valid
// UTF-8, nesting at most `max_depth`), a member name that appears twice in any object is
// refused (RFC 7515 section 4 and RFC 7519 section 4 allow refusing): Boost.JSON would keep
// the last one, and two parsers that keep different ones read different claims from the same
// signed bytes.
// kInvalidInput "<what>: ..." on every failure; never throws.
Result<boost::json::object> ParseStrictObject(std::string_view text, std::size_t max_depth,
                                              std::string_view what);

inline std::string_view View(const boost::json::string& s) { return {s.data(), s.size()}; }

// The member `name` of `object` when it is a string, null when it is absent, and `code`
// "<where><name> must be a string" when it has another type.
Result<const boost::json::string*> StringMember(const boost::json::object& object,
                                                std::string_view name, ErrorCode code,
                                                std::string_view where);

}  // namespace fogkeep::oauth::detail
