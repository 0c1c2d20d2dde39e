#include "access/auth_token.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>

#include "auth/roles.h"
#include "core/fs.h"
#include "core/log.h"
#include "crypto/hash.h"

namespace fogkeep::access {
namespace {

constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kMaxTokensFile = 1 << 20;

std::string HashToken(std::string_view token) {
  crypto::Digest digest;
  digest.Update(token);
  return digest.Final();
}

Result<net::Principal> Unauthenticated(std::string message) {
  return Fail(ErrorCode::kUnauthenticated, std::move(message));
}

}  // namespace

std::string TokensFile(const std::string& data_dir) { return data_dir + "/tokens"; }

Status RoleAuthorizer::Authorize(const net::Principal& principal, std::string_view permission,
                                 const net::Request&) {
  // An OAuth token acts only within its scopes; who it is (session.self) it may always ask.
  if (principal.scopes && permission != auth::kPermissionSessionSelf &&
      std::ranges::find(*principal.scopes, permission) == principal.scopes->end()) {
    return Fail(ErrorCode::kForbidden,
                "the access token's scope does not include " + std::string(permission));
  }
  for (const std::string& role : principal.roles) {
    if (auth::RoleHolds(role, permission)) return {};
  }
  std::string roles;
  for (const std::string& role : principal.roles) roles += (roles.empty() ? "" : ", ") + role;
  return Fail(ErrorCode::kForbidden, "role " + (roles.empty() ? std::string("(none)") : roles) +
                                         " does not hold permission " + std::string(permission));
}

Result<std::string> CreateToken(const std::string& tokens_file, std::string_view role) {
  if (!auth::IsKnownRole(role)) {
    return Fail(ErrorCode::kInvalidInput,
                "unknown role " + std::string(role) +
                    " (known: admin, app-manager, network-manager, auditor)");
  }
  std::string existing;
  if (auto read = fs::ReadFile(tokens_file, kMaxTokensFile)) {
    existing = std::move(*read);
  } else if (read.error().code() != ErrorCode::kNotFound) {
    return Fail(std::move(read).error().With("read " + tokens_file));
  }
  if (!existing.empty() && existing.back() != '\n') existing.push_back('\n');
  const std::string token = crypto::Base64UrlEncode(crypto::RandomBytes(kTokenBytes));
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  existing +=
      crypto::ToHex(HashToken(token)) + " " + std::string(role) + " " + std::to_string(now) + "\n";
  FK_TRY_CTX(fs::WriteFileAtomic(tokens_file, existing, 0600), "write " + tokens_file);
  return token;
}

TokenAuthenticator::TokenAuthenticator(std::string tokens_file)
    : tokens_file_(std::move(tokens_file)) {}

Status TokenAuthenticator::ReloadIfChangedLocked() {
  struct stat st {};
  if (stat(tokens_file_.c_str(), &st) != 0) {
    if (errno != ENOENT) return FailErrno("stat " + tokens_file_, errno);
    entries_.clear();
    loaded_ = false;
    return {};
  }
  if (loaded_ && st.st_ino == loaded_inode_ && st.st_mtim.tv_sec == loaded_mtime_.tv_sec &&
      st.st_mtim.tv_nsec == loaded_mtime_.tv_nsec) {
    return {};
  }
  if ((st.st_mode & 077) != 0) {
    log::Warn("{} is readable by group or others; token hashes should be private (chmod 600)",
              tokens_file_);
  }
  std::string text = FK_TRY_CTX(fs::ReadFile(tokens_file_, kMaxTokensFile), "read tokens");
  std::vector<Entry> entries;
  std::size_t line_no = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    ++line_no;
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    std::string_view hex = line.substr(0, sp1);
    std::string_view role =
        sp1 == std::string_view::npos
            ? std::string_view()
            : line.substr(sp1 + 1,
                          sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
    std::string raw;
    bool valid = hex.size() == 64 && auth::IsKnownRole(role);
    for (std::size_t i = 0; valid && i < hex.size(); i += 2) {
      auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
      };
      int hi = nibble(hex[i]);
      int lo = nibble(hex[i + 1]);
      if (hi < 0 || lo < 0) valid = false;
      raw.push_back(static_cast<char>(hi * 16 + lo));
    }
    if (!valid) {
      log::Warn("{}:{}: ignoring malformed token line", tokens_file_, line_no);
      continue;
    }
    entries.push_back({std::move(raw), std::string(role)});
  }
  entries_ = std::move(entries);
  loaded_mtime_ = st.st_mtim;
  loaded_inode_ = st.st_ino;
  loaded_ = true;
  return {};
}

Result<std::string_view> BearerToken(const net::Request& request) {
  std::optional<std::string_view> header = request.headers.Get("Authorization");
  if (!header) {
    return Fail(ErrorCode::kUnauthenticated,
                "authentication required (Authorization: Bearer <token>)");
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (header->size() <= kScheme.size() ||
      !net::EqualsIgnoreCase(header->substr(0, kScheme.size()), kScheme)) {
    return Fail(ErrorCode::kUnauthenticated, "unsupported authorization scheme (expected Bearer)");
  }
  std::string_view token = header->substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

Result<net::Principal> TokenAuthenticator::Authenticate(const net::Request& request) {
  if (request.peer.transport == net::Peer::Transport::kUnix && request.peer.credentials &&
      request.peer.credentials->uid == 0) {
    return net::Principal{.id = "uid:0", .mechanism = "unix", .roles = {"admin"}};
  }
  const std::string presented = HashToken(FK_TRY(BearerToken(request)));

  std::lock_guard lock(mu_);
  if (Status reloaded = ReloadIfChangedLocked(); !reloaded) {
    log::Error("token store unusable: {}", reloaded.error().message());
    return Fail(ErrorCode::kUnavailable, "token store unavailable");
  }
  // Compare with every entry, without stopping at a match, so timing says nothing about
  // which (or whether an early) entry matched.
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    if (crypto::ConstantTimeEquals(entry.hash, presented) && match == nullptr) match = &entry;
  }
  if (match == nullptr) return Unauthenticated("invalid token");
  return net::Principal{.id = "token:" + crypto::ToHex(match->hash).substr(0, 12),
                        .mechanism = "token",
                        .roles = {match->role}};
}

}  // namespace fogkeep::access
