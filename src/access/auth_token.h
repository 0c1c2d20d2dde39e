// API tokens: bearer-token authentication for scripts and automation, beside login sessions.
//
// Tokens are 32 random bytes, base64url without padding, shown once when created. The server
// keeps only their SHA-256 (data-dir/tokens, mode 0600, one "<sha256-hex> <role> <created>"
// line per token), so a stolen file yields no usable credential. Requests prove themselves with
// "Authorization: Bearer <token>"; the presented token's hash is compared in constant time with
// every stored one. Root on the Unix socket (SO_PEERCRED uid 0) is trusted as admin without a
// token: it already owns the node. RoleAuthorizer gives the roles their permissions.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "net/router.h"

namespace fogkeep::access {

// Where a server keeps its API tokens' hashes: data-dir/tokens.
std::string TokensFile(const std::string& data_dir);

// The token of "Authorization: Bearer <token>" (surrounding spaces removed). kUnauthenticated
// when the header is missing or names another scheme.
Result<std::string_view> BearerToken(const net::Request& request);

// Creates a token for `role` (auth/roles.h; kInvalidInput for an unknown one), appends its hash to
// `tokens_file` (created 0600 when missing) and returns the token. The token itself is stored
// nowhere.
Result<std::string> CreateToken(const std::string& tokens_file, std::string_view role);

// The API's authorization: a principal may do what any of its roles holds in fogkeep's
// one permission matrix (auth/roles.h), and, when it came with an OAuth token's scopes, only
// what is also among them (session.self aside); kForbidden otherwise.
class RoleAuthorizer : public net::Authorizer {
 public:
  Status Authorize(const net::Principal& principal, std::string_view permission,
                   const net::Request& request) override;
};

class TokenAuthenticator : public net::Authenticator {
 public:
  explicit TokenAuthenticator(std::string tokens_file);

  // A missing file means no tokens (only root on the Unix socket gets in). The file is re-read
  // when it changes, so tokens created while the server runs work at once.
  Result<net::Principal> Authenticate(const net::Request& request) override;
  // A hash, a comparison with each entry and a stat(2) of the tokens file.
  bool MayBlock(const net::Request& /*request*/) const override { return false; }

 private:
  struct Entry {
    std::string hash;  // raw SHA-256 of the token
    std::string role;
  };
  Status ReloadIfChangedLocked();

  const std::string tokens_file_;

  std::mutex mu_;
  // Guarded by mu_.
  std::vector<Entry> entries_;
  struct timespec loaded_mtime_ {};
  ino_t loaded_inode_ = 0;
  bool loaded_ = false;
};

}  // namespace fogkeep::access
