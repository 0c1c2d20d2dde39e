#include "auth/pam_backend.h"

#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "auth/roles.h"

namespace fogkeep::auth {
namespace {

constexpr std::size_t kMaxUserBytes = 256;
constexpr std::size_t kMaxPasswordBytes = 1024;

struct Conversation {
  std::string_view password;
  bool answered = false;
};

void FreeResponses(pam_response* responses, int count) {
  if (responses == nullptr) return;
  for (int i = 0; i < count; ++i) {
    if (responses[i].resp != nullptr) {
      ::explicit_bzero(responses[i].resp, std::strlen(responses[i].resp));
      std::free(responses[i].resp);
    }
  }
  std::free(responses);
}

// Answers the one password prompt; anything else that wants an answer fails the conversation.
// The responses are malloc'd, as PAM frees them.
int Converse(int count, const pam_message** messages, pam_response** out, void* data) {
  auto* conversation = static_cast<Conversation*>(data);
  if (count <= 0 || count > PAM_MAX_NUM_MSG || out == nullptr) return PAM_CONV_ERR;
  *out = nullptr;
  auto* responses = static_cast<pam_response*>(std::calloc(count, sizeof(pam_response)));
  if (responses == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    switch (messages[i]->msg_style) {
      case PAM_PROMPT_ECHO_OFF: {
        if (conversation->answered) {
          FreeResponses(responses, count);
          return PAM_CONV_ERR;
        }
        const std::string_view password = conversation->password;
        char* copy = static_cast<char*>(std::malloc(password.size() + 1));
        if (copy == nullptr) {
          FreeResponses(responses, count);
          return PAM_BUF_ERR;
        }
        std::memcpy(copy, password.data(), password.size());
        copy[password.size()] = '\0';
        responses[i].resp = copy;
        conversation->answered = true;
        break;
      }
      case PAM_ERROR_MSG:
      case PAM_TEXT_INFO:
        break;  // nothing to show: the person logging in gets fogkeep's uniform answer
      default:
        FreeResponses(responses, count);
        return PAM_CONV_ERR;
    }
  }
  *out = responses;
  return PAM_SUCCESS;
}

// Replaces PAM's delay after a failure: LoginThrottle paces retries instead.
void NoFailDelay(int, unsigned, void*) {}

bool ServiceNameOk(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

bool Printable(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Owns a PAM handle; pam_end with the last status on destruction.
class Transaction {
 public:
  explicit Transaction(pam_handle_t* handle) : handle_(handle) {}
  ~Transaction() {
    if (handle_ != nullptr) ::pam_end(handle_, status_ | PAM_DATA_SILENT);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  pam_handle_t* get() const { return handle_; }
  int Check(int status) { return status_ = status; }

 private:
  pam_handle_t* handle_;
  int status_ = PAM_SUCCESS;
};

std::string PamError(pam_handle_t* handle, int status) {
  const char* text = ::pam_strerror(handle, status);
  return text != nullptr ? text : "PAM error " + std::to_string(status);
}

AuthOutcome Refused(std::string reason, bool user_unknown = false) {
  return AuthOutcome{
      .accepted = false, .role = {}, .reason = std::move(reason), .user_unknown = user_unknown};
}

// Scratch buffer size for the reentrant passwd/group lookups.
std::size_t NssBufferSize(int name) {
  long size = ::sysconf(name);
  return size > 0 ? static_cast<std::size_t>(size) : 16384;
}

// The gid of `group`, when it exists, and its member list.
bool LookupGroup(const std::string& group, gid_t* gid, std::vector<std::string>* members) {
  std::vector<char> buffer(NssBufferSize(_SC_GETGR_R_SIZE_MAX));
  struct group entry {};
  struct group* found = nullptr;
  int rc;
  while ((rc = ::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 24)) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0 || found == nullptr) return false;
  *gid = entry.gr_gid;
  members->clear();
  for (char** m = entry.gr_mem; m != nullptr && *m != nullptr; ++m) members->emplace_back(*m);
  return true;
}

// Every gid `user` belongs to by the passwd and group databases; empty without a passwd entry.
std::vector<gid_t> GroupsOf(const std::string& user) {
  std::vector<char> buffer(NssBufferSize(_SC_GETPW_R_SIZE_MAX));
  struct passwd entry {};
  struct passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 24)) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0 || found == nullptr) return {};
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 8; ++attempt) {
    int n = static_cast<int>(groups.size());
    if (::getgrouplist(user.c_str(), entry.pw_gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(n));
      return groups;
    }
    groups.resize(static_cast<std::size_t>(std::max(n, static_cast<int>(groups.size()) * 2)));
  }
  return {entry.pw_gid};
}

}  // namespace

Result<std::unique_ptr<PamBackend>> PamBackend::Create(PamOptions options) {
  if (!ServiceNameOk(options.service)) {
    return Fail(ErrorCode::kInvalidInput,
                "PAM service name must be 1..64 characters of A-Z, a-z, 0-9, '.', '_', '-'");
  }
  for (const PamGroupRole& mapping : options.group_roles) {
    if (mapping.group.empty() || !IsKnownRole(mapping.role)) {
      return Fail(ErrorCode::kInvalidInput,
                  "PAM group mapping needs a group and a known role (got \"" + mapping.group +
                      "\" -> \"" + mapping.role + "\")");
    }
  }
  if (!options.default_role.empty() && !IsKnownRole(options.default_role)) {
    return Fail(ErrorCode::kInvalidInput, "unknown PAM default role " + options.default_role);
  }
  const std::string file = options.pam_config_dir + "/" + options.service;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kNotFound,
                "PAM service file " + file + " is missing (PAM would fall back to \"other\")");
  }
  return std::unique_ptr<PamBackend>(new PamBackend(std::move(options)));
}

std::string PamBackend::RoleOf(const std::string& user) const {
  const std::vector<gid_t> gids = GroupsOf(user);
  std::vector<std::string> members;
  for (const PamGroupRole& mapping : options_.group_roles) {
    gid_t gid = 0;
    if (!LookupGroup(mapping.group, &gid, &members)) continue;
    bool member = std::find(gids.begin(), gids.end(), gid) != gids.end() ||
                  std::find(members.begin(), members.end(), user) != members.end();
    if (member) return mapping.role;
  }
  return options_.default_role;
}

Result<AuthOutcome> PamBackend::Authenticate(std::string_view user, std::string_view password,
                                             std::string_view source_address) {
  if (user.empty() || user.size() > kMaxUserBytes || !Printable(user) ||
      user.find(':') != std::string_view::npos) {
    return Refused("user name PAM cannot carry", true);
  }
  if (password.empty() || password.size() > kMaxPasswordBytes ||
      password.find('\0') != std::string_view::npos) {
    return Refused("password PAM cannot carry");
  }
  const std::string user_name(user);
  const std::string rhost(source_address.substr(0, 255));
  Conversation conversation{.password = password};
  const pam_conv conv{&Converse, &conversation};

  std::lock_guard lock(mu_);
  pam_handle_t* handle = nullptr;
  int status = ::pam_start(options_.service.c_str(), user_name.c_str(), &conv, &handle);
  if (status != PAM_SUCCESS || handle == nullptr) {
    if (handle != nullptr) ::pam_end(handle, status);
    return Fail(ErrorCode::kUnavailable, "pam_start(" + options_.service + ") failed");
  }
  Transaction pam(handle);
  if (!rhost.empty()) {
    status = pam.Check(::pam_set_item(handle, PAM_RHOST, rhost.c_str()));
    if (status != PAM_SUCCESS) {
      return Fail(ErrorCode::kUnavailable, "PAM_RHOST: " + PamError(handle, status));
    }
  }
  void (*no_delay)(int, unsigned, void*) = &NoFailDelay;
  if (pam.Check(::pam_set_item(handle, PAM_FAIL_DELAY, reinterpret_cast<const void*>(no_delay))) !=
      PAM_SUCCESS) {
    return Fail(ErrorCode::kUnavailable, "PAM_FAIL_DELAY not supported");
  }

  status = pam.Check(::pam_authenticate(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK));
  switch (status) {
    case PAM_SUCCESS:
      break;
    case PAM_USER_UNKNOWN:
      return Refused("unknown to PAM", true);
    case PAM_AUTH_ERR:
    case PAM_CRED_INSUFFICIENT:
    case PAM_MAXTRIES:
    case PAM_PERM_DENIED:
      return Refused("PAM: " + PamError(handle, status));
    case PAM_CONV_ERR:
      return Fail(ErrorCode::kUnavailable,
                  "PAM service " + options_.service + " asked for more than one password");
    default:
      return Fail(ErrorCode::kUnavailable, "PAM: " + PamError(handle, status));
  }
  if (options_.check_account) {
    status = pam.Check(::pam_acct_mgmt(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK));
    switch (status) {
      case PAM_SUCCESS:
        break;
      case PAM_USER_UNKNOWN:
      case PAM_ACCT_EXPIRED:
      case PAM_NEW_AUTHTOK_REQD:
      case PAM_AUTH_ERR:
      case PAM_PERM_DENIED:
        return Refused("PAM account: " + PamError(handle, status));
      default:
        return Fail(ErrorCode::kUnavailable, "PAM account: " + PamError(handle, status));
    }
  }
  // A module may have changed the name (canonical case, a mapped account).
  std::string account = user_name;
  const void* item = nullptr;
  if (::pam_get_item(handle, PAM_USER, &item) == PAM_SUCCESS && item != nullptr) {
    account = static_cast<const char*>(item);
  }
  std::string role = RoleOf(account);
  if (role.empty()) return Refused("PAM accepted " + account + " but no group gives a role");
  return AuthOutcome{.accepted = true, .role = role, .reason = "PAM account " + account};
}

}  // namespace fogkeep::auth
