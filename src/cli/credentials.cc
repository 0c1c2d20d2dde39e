#include "cli/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "api/node.h"
#include "core/fs.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using Clock = std::chrono::system_clock;

constexpr std::int64_t kFormatVersion = 1;
constexpr std::size_t kMaxFileBytes = 1 << 20;
constexpr std::size_t kMaxTokenBytes = 1024;
constexpr std::size_t kMaxFieldBytes = 4096;
// A token this close to its expiry is treated as expired: it could lapse in flight.
constexpr std::chrono::seconds kExpiryMargin{10};
constexpr std::chrono::seconds kLockWait{30};
// Year 5138: far beyond any expiry, far below what a nanosecond time_point can hold.
// Year 2255: within what a nanosecond system_clock holds (to 2262), so no conversion overflows.
constexpr std::int64_t kMaxUnixSeconds = 9'000'000'000;
constexpr std::chrono::milliseconds kLockPoll{50};

std::string FixHint(const std::string& path) {
  return "; fix or delete " + path + " (`fogkeep login` writes a new one)";
}

std::int64_t ToUnix(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
Clock::time_point FromUnix(std::int64_t s) { return Clock::time_point(std::chrono::seconds(s)); }

// Fields of one login entry; the first problem found is the error.
class EntryReader {
 public:
  EntryReader(const json::object& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  std::string Text(std::string_view key, bool required, bool token = false) {
    const json::value* v = object_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      if (required) Problem(key, "is missing");
      return {};
    }
    if (!v->is_string()) {
      Problem(key, "must be a string");
      return {};
    }
    std::string text(v->get_string());
    if (token ? !IsBearerToken(text) : !IsDisplaySafe(text)) {
      Problem(key, token ? "is not a token (1 to 1024 visible ASCII characters)"
                         : "holds control characters or is too long");
      return {};
    }
    if (required && text.empty()) Problem(key, "is empty");
    return text;
  }

  Clock::time_point Time(std::string_view key) {
    const json::value* v = object_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      Problem(key, "is missing");
    } else if (v->is_int64() && v->get_int64() >= 0 && v->get_int64() <= kMaxUnixSeconds) {
      return FromUnix(v->get_int64());
    } else {
      Problem(key, "must be an integer of Unix seconds");
    }
    return {};
  }

  Status status() const {
    if (error_) return Fail(ErrorCode::kInvalidInput, *error_);
    return {};
  }

 private:
  void Problem(std::string_view key, std::string_view what) {
    if (!error_) error_ = where_ + "." + std::string(key) + " " + std::string(what);
  }

  const json::object& object_;
  const std::string where_;
  std::optional<std::string> error_;
};

// What is wrong with a login's OAuth part; nullopt when nothing is (or it has none).
std::optional<std::string> OAuthProblem(const Credential& c) {
  if (!c.oauth) return std::nullopt;
  if (c.server != ServerKind::kDirector) return "an OAuth login must be to a director";
  const OAuthGrant& g = *c.oauth;
  if (g.client_id.empty() || !IsDisplaySafe(g.client_id)) return "oauth.client_id is unusable";
  for (const std::string* url : {&g.token_endpoint, &g.revocation_endpoint}) {
    if (!IsDisplaySafe(*url) || (!url->empty() && !url->starts_with("https://"))) {
      return "the OAuth endpoints must be https:// URLs";
    }
  }
  if (g.token_endpoint.empty()) return "oauth.token_endpoint is missing";
  return std::nullopt;
}

Result<OAuthGrant> ParseOAuthGrant(const json::value& value, const std::string& where) {
  if (!value.is_object()) return Fail(ErrorCode::kInvalidInput, where + " must be an object");
  EntryReader r(value.get_object(), where);
  OAuthGrant grant;
  grant.client_id = r.Text("client_id", true);
  grant.token_endpoint = r.Text("token_endpoint", true);
  grant.revocation_endpoint = r.Text("revocation_endpoint", false);
  FK_TRY(r.status());
  return grant;
}

Result<std::vector<Credential>> Parse(std::string_view text, const std::string& path) {
  auto fail = [&](std::string message) {
    return Fail(ErrorCode::kInvalidInput, path + ": " + message + FixHint(path));
  };
  Result<json::value> parsed = api::ParseJson(text, kMaxFileBytes);
  if (!parsed) return fail(parsed.error().message());
  const json::object* root = parsed->if_object();
  if (root == nullptr) return fail("not a JSON object");
  const json::value* version = root->if_contains("version");
  if (version == nullptr || !version->is_int64()) return fail("\"version\" must be an integer");
  if (version->get_int64() != kFormatVersion) {
    return fail("format version " + std::to_string(version->get_int64()) +
                " is not known to this fogkeep (it reads version 1)");
  }
  const json::value* logins = root->if_contains("logins");
  if (logins == nullptr || !logins->is_array()) return fail("\"logins\" must be an array");

  std::vector<Credential> out;
  for (std::size_t i = 0; i < logins->get_array().size(); ++i) {
    const std::string where = "logins[" + std::to_string(i) + "]";
    const json::value& item = logins->get_array()[i];
    if (!item.is_object()) return fail(where + " must be an object");
    EntryReader r(item.get_object(), where);
    Credential c;
    c.node = r.Text("node", true);
    c.user = r.Text("user", true);
    c.role = r.Text("role", false);
    c.access_token = r.Text("access_token", true, /*token=*/true);
    c.refresh_token = r.Text("refresh_token", true, /*token=*/true);
    c.access_expires = r.Time("access_expires");
    c.session_expires = r.Time("session_expires");
    c.ca = r.Text("ca", false);
    const std::string server = r.Text("server", false);
    if (Status ok = r.status(); !ok) return fail(ok.error().message());
    if (server == "director") {
      c.server = ServerKind::kDirector;
    } else if (!server.empty() && server != "node") {
      return fail(where + ".server must be \"node\" or \"director\"");
    }
    if (const json::value* oauth = item.get_object().if_contains("oauth");
        oauth != nullptr && !oauth->is_null()) {
      Result<OAuthGrant> grant = ParseOAuthGrant(*oauth, where + ".oauth");
      if (!grant) return fail(grant.error().message());
      c.oauth = std::move(*grant);
    }
    if (std::optional<std::string> problem = OAuthProblem(c)) return fail(where + ": " + *problem);
    if (!c.node.starts_with("https://")) return fail(where + ".node must be an https:// URL");
    for (const Credential& earlier : out) {
      if (earlier.node == c.node) return fail("two logins for " + c.node);
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string Serialize(const std::vector<Credential>& credentials) {
  json::array logins;
  for (const Credential& c : credentials) {
    json::object o{{"node", c.node},
                   {"user", c.user},
                   {"role", c.role},
                   {"access_token", c.access_token},
                   {"refresh_token", c.refresh_token},
                   {"access_expires", ToUnix(c.access_expires)},
                   {"session_expires", ToUnix(c.session_expires)}};
    if (!c.ca.empty()) o["ca"] = c.ca;
    if (c.server == ServerKind::kDirector) o["server"] = "director";
    if (c.oauth) {
      json::object grant{{"client_id", c.oauth->client_id},
                         {"token_endpoint", c.oauth->token_endpoint}};
      if (!c.oauth->revocation_endpoint.empty()) {
        grant["revocation_endpoint"] = c.oauth->revocation_endpoint;
      }
      o["oauth"] = std::move(grant);
    }
    logins.push_back(std::move(o));
  }
  return json::serialize(json::object{{"version", kFormatVersion}, {"logins", logins}}) + "\n";
}

// Checks a credential before it is written, so that the file never holds what Parse refuses.
Status Validate(const Credential& c) {
  if (!c.node.starts_with("https://") || !IsDisplaySafe(c.node)) {
    return Fail(ErrorCode::kInvalidInput, "not a server URL: " + c.node);
  }
  if (c.user.empty() || !IsDisplaySafe(c.user) || !IsDisplaySafe(c.role) || !IsDisplaySafe(c.ca)) {
    return Fail(ErrorCode::kInvalidInput, "the login for " + c.node + " has an unusable name");
  }
  if (!IsBearerToken(c.access_token) || !IsBearerToken(c.refresh_token)) {
    return Fail(ErrorCode::kInvalidInput, "the server sent tokens that are not visible ASCII");
  }
  if (std::optional<std::string> problem = OAuthProblem(c)) {
    return Fail(ErrorCode::kInvalidInput, "the login for " + c.node + ": " + *problem);
  }
  return {};
}

// The file's logins; none when it does not exist. Ownership and mode are checked on the open
// descriptor, so the file checked is the file read.
Result<std::vector<Credential>> Load(const std::string& path) {
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::vector<Credential>{};
    if (errno == ELOOP) {
      return Fail(ErrorCode::kIntegrity, path +
                                             " is a symbolic link; fogkeep keeps tokens only in a "
                                             "regular file: remove the link and log in again");
    }
    return FailErrno("open " + path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kIntegrity, path + " is not a regular file; remove it");
  }
  if (st.st_uid != ::geteuid()) {
    return Fail(ErrorCode::kIntegrity,
                path + " belongs to uid " + std::to_string(st.st_uid) + ", not to you (uid " +
                    std::to_string(::geteuid()) +
                    "); its tokens may not be yours: remove it and log in again");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Fail(ErrorCode::kIntegrity,
                path + " has mode " + mode +
                    ": it holds login tokens and must be private to you; run `chmod 600 " + path +
                    "` (and, if others may have read it, `fogkeep logout` and log in again)");
  }
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("read " + path, errno);
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > kMaxFileBytes) {
      return Fail(ErrorCode::kLimit, path + " is larger than " + std::to_string(kMaxFileBytes) +
                                         " bytes" + FixHint(path));
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  return Parse(text, path);
}

std::string Directory(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Takes the cache's lock, waiting for another fogkeep that holds it.
Result<fs::UniqueFd> Lock(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + kLockWait;
  for (;;) {
    Result<fs::UniqueFd> lock = fs::LockExclusive(path + ".lock");
    if (lock || lock.error().code() != ErrorCode::kConflict) return lock;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(ErrorCode::kUnavailable, "another fogkeep has held " + path + ".lock for " +
                                               std::to_string(kLockWait.count()) + " s; try again");
    }
    std::this_thread::sleep_for(kLockPoll);
  }
}

}  // namespace

bool IsBearerToken(std::string_view text) {
  return !text.empty() && text.size() <= kMaxTokenBytes &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool IsDisplaySafe(std::string_view text) {
  return text.size() <= kMaxFieldBytes && std::none_of(text.begin(), text.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u < 0x20 || u == 0x7f;
         });
}

bool AccessTokenCurrent(const Credential& credential, Clock::time_point now) {
  return now + kExpiryMargin < credential.access_expires;
}

bool SessionAlive(const Credential& credential, Clock::time_point now) {
  return credential.oauth || now + kExpiryMargin < credential.session_expires;
}

Result<std::string> DefaultCredentialsPath() {
  // The XDG Base Directory spec says relative values are to be ignored.
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/fogkeep/credentials.json";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') {
    return std::string(home) + "/.config/fogkeep/credentials.json";
  }
  return Fail(ErrorCode::kInvalidInput,
              "neither XDG_CONFIG_HOME nor HOME is set to an absolute path, so there is no place "
              "for the login cache; set one, or pass --token");
}

Result<CredentialCache> CredentialCache::Default() {
  return CredentialCache(FK_TRY(DefaultCredentialsPath()));
}

Result<std::optional<Credential>> CredentialCache::Find(std::string_view node) const {
  for (Credential& c : FK_TRY(Load(path_))) {
    if (c.node == node) return std::optional<Credential>(std::move(c));
  }
  return std::optional<Credential>();
}

Result<std::vector<Credential>> CredentialCache::List() const { return Load(path_); }

Status CredentialCache::Update(std::string_view node, const Updater& update) {
  const std::string dir = Directory(path_);
  FK_TRY(fs::MakeDirs(dir, 0700));
  const fs::UniqueFd lock = FK_TRY(Lock(path_));
  std::vector<Credential> logins = FK_TRY(Load(path_));
  auto it = std::find_if(logins.begin(), logins.end(),
                         [&](const Credential& c) { return c.node == node; });
  std::optional<Credential> current;
  if (it != logins.end()) current = *it;
  std::optional<Credential> next = FK_TRY(update(current));
  if (next == current) return {};
  if (next) {
    if (next->node != node) {
      return Fail(ErrorCode::kInternal,
                  "a login for " + next->node + " offered as " + std::string(node) + "'s");
    }
    FK_TRY(Validate(*next));
    if (it != logins.end()) {
      *it = std::move(*next);
    } else {
      logins.push_back(std::move(*next));
    }
  } else {
    logins.erase(it);
  }
  return fs::WriteFileAtomic(path_, Serialize(logins), 0600);
}

Status CredentialCache::Store(const Credential& credential) {
  return Update(
      credential.node,
      [&](std::optional<Credential>) -> Result<std::optional<Credential>> { return credential; });
}

Result<bool> CredentialCache::Remove(std::string_view node) {
  bool found = false;
  FK_TRY(Update(node, [&](std::optional<Credential> current) -> Result<std::optional<Credential>> {
    found = current.has_value();
    return std::nullopt;
  }));
  return found;
}

}  // namespace fogkeep::cli
