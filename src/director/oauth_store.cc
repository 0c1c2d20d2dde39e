// The value rules of oauth_store.h that hold whichever database keeps the state. The grant
// type names are in oauth_store_sql.cc, with the other names the tables hold.
#include "director/oauth_store.h"

namespace fogkeep::director {

bool IsDigest(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string NormalizeUserCode(std::string_view user_code) {
  std::string out;
  out.reserve(user_code.size());
  for (char c : user_code) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      continue;
    }
    out.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return out;
}

}  // namespace fogkeep::director
