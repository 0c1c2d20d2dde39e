// Writing JSON string literals by hand, for the few places that build JSON text without a
// JSON library: the audit log's lines (whose bytes are hashed, so the escaping below is part
// of that format and must never change) and the runtime's flat objects (which the static
// shim links, without Boost.JSON).
#pragma once

#include <string>
#include <string_view>

namespace fogkeep::json_text {

// Appends `value` as a JSON string (RFC 8259): quotes, backslash, \b \f \n \r \t in their
// short forms, every other control character as \u00XX; all other bytes (UTF-8) as they are.
void AppendString(std::string& out, std::string_view value);

}  // namespace fogkeep::json_text
