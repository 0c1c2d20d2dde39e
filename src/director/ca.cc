#include "director/ca.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "core/fs.h"
#include "crypto/hash.h"

namespace fogkeep::director {
namespace {

constexpr std::string_view kKeyFile = "ca.key";
constexpr std::string_view kCertFile = "ca.crt";
// A PEM key or certificate is a few kilobytes.
constexpr std::size_t kMaxFileBytes = 64 << 10;
constexpr std::size_t kMaxNameLength = 64;

std::string PathIn(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

// 1 to 64 printable ASCII characters; spaces only where `allow_space`.
Status CheckName(std::string_view what, std::string_view name, bool allow_space) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return Fail(ErrorCode::kInvalidInput, std::string(what) + " must be 1 to " +
                                              std::to_string(kMaxNameLength) + " characters");
  }
  const char lowest = allow_space ? 0x20 : 0x21;
  for (char c : name) {
    if (c < lowest || c > 0x7e) {
      return Fail(ErrorCode::kInvalidInput,
                  std::string(what) + " \"" + std::string(name) + "\" holds a character that is " +
                      (allow_space ? "not printable ASCII" : "not printable ASCII or is a space"));
    }
  }
  return {};
}

// Fails with kConflict when `path` exists (as anything, a dangling link included).
Status RequireAbsent(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    return Fail(ErrorCode::kConflict, path + " already exists; a fleet CA is never replaced");
  }
  if (errno != ENOENT) return FailErrno("stat " + path, errno);
  return {};
}

// Reads the CA key file, refusing one that others could read or replace. The checks run on the
// opened descriptor, so the file cannot be swapped between check and read.
Result<std::string> ReadPrivateKeyFile(const std::string& path) {
  // O_NOFOLLOW refuses a symlink as the last component (ELOOP); O_NONBLOCK keeps a FIFO
  // planted there from blocking the open.
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ELOOP) return Fail(ErrorCode::kIntegrity, path + " is a symbolic link");
    return FailErrno("open " + path, err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kIntegrity, path + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    return Fail(ErrorCode::kIntegrity, path + " is owned by uid " + std::to_string(st.st_uid) +
                                           ", not by this process's user");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Fail(ErrorCode::kIntegrity, path + " has mode " + mode +
                                           ": group or others may read or replace the fleet CA "
                                           "key (it must be 0600)");
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxFileBytes) {
    return Fail(ErrorCode::kIntegrity, path + " is too large to hold a key");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      crypto::Wipe(data);
      if (n < 0) return FailErrno("read " + path, err);
      return Fail(ErrorCode::kIntegrity, path + " shrank while it was read");
    }
    done += static_cast<std::size_t>(n);
  }
  return data;
}

}  // namespace

Result<FleetCa> FleetCa::Create(const std::string& dir, std::string_view fleet_name) {
  FK_TRY(CheckName("fleet name", fleet_name, /*allow_space=*/true));
  FK_TRY(fs::MakeDirs(dir, 0700));
  const std::string key_path = PathIn(dir, kKeyFile);
  const std::string cert_path = PathIn(dir, kCertFile);
  FK_TRY(RequireAbsent(key_path));
  FK_TRY(RequireAbsent(cert_path));

  crypto::PrivateKey key = FK_TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  crypto::IssueOptions options;
  options.common_name = std::string(fleet_name);
  options.is_ca = true;
  options.path_length = 0;
  options.lifetime = kCaLifetime;
  options.backdate = kBackdate;
  crypto::Certificate cert =
      FK_TRY_CTX(crypto::IssueCertificate(key.Public(), options, nullptr, key), "fleet CA");

  // The key first: a CA certificate without its key on disk would be a trust anchor nobody
  // can sign for. When the certificate cannot be written, the key goes too, so that Create can
  // be retried.
  FK_TRY(key.Save(key_path));
  if (Status written = fs::WriteFileAtomic(cert_path, cert.ToPem(), 0644); !written) {
    ::unlink(key_path.c_str());
    return Fail(std::move(written).error().With(cert_path));
  }
  return FleetCa(std::move(cert), std::move(key));
}

Result<FleetCa> FleetCa::Load(const std::string& dir) {
  const std::string key_path = PathIn(dir, kKeyFile);
  const std::string cert_path = PathIn(dir, kCertFile);
  std::string pem = FK_TRY(ReadPrivateKeyFile(key_path));
  auto key = crypto::PrivateKey::FromPem(pem);
  crypto::Wipe(pem);
  if (!key) return Fail(std::move(key).error().With(key_path));

  const std::string cert_pem = FK_TRY(fs::ReadFile(cert_path, kMaxFileBytes));
  crypto::Certificate cert = FK_TRY_CTX(crypto::Certificate::FromPem(cert_pem), cert_path);
  if (!cert.IsCa()) {
    return Fail(ErrorCode::kIntegrity, cert_path + ": " + cert.Subject() + " is not a CA");
  }
  if (cert.Key().Fingerprint() != key->Public().Fingerprint()) {
    return Fail(ErrorCode::kIntegrity, key_path + " does not match the certificate " + cert_path);
  }
  return FleetCa(std::move(cert), std::move(key).value());
}

Result<crypto::Certificate> FleetCa::IssueLeaf(const crypto::PublicKey& key,
                                               crypto::IssueOptions options,
                                               std::chrono::seconds lifetime,
                                               std::chrono::seconds max_lifetime) const {
  if (lifetime <= std::chrono::seconds(0)) {
    return Fail(ErrorCode::kInvalidInput, "a certificate lifetime must be positive");
  }
  const crypto::TimePoint now = std::chrono::system_clock::now();
  if (cert_.NotAfter() <= now) {
    return Fail(ErrorCode::kConflict, "the fleet CA certificate " + cert_.Subject() +
                                          " has expired; it can no longer issue");
  }
  // A certificate that outlives its issuer would fail verification from then on anyway.
  lifetime = std::min(lifetime, max_lifetime);
  options.not_after = std::min(now + lifetime, cert_.NotAfter());
  options.not_before = now - std::min<std::chrono::seconds>(kBackdate, lifetime / 4);
  return crypto::IssueCertificate(key, options, &cert_, key_);
}

Result<crypto::Certificate> FleetCa::IssueNodeCertificate(const crypto::CertificateRequest& csr,
                                                          std::string_view device_id,
                                                          std::chrono::seconds lifetime) const {
  // Proof of possession before anything else: a request its key did not sign certifies
  // nothing.
  FK_TRY(csr.VerifySignature());
  FK_TRY(CheckName("device id", device_id, /*allow_space=*/false));
  // The director holds the certificate of every node connected to it: the node's is compact,
  // its subject the device id alone.
  crypto::IssueOptions options;
  options.common_name = std::string(device_id);
  options.organization.clear();
  options.extended_key_usages = {crypto::ExtendedKeyUsage::kClientAuth};
  options.compact = true;
  return FK_TRY_CTX(IssueLeaf(csr.Key(), std::move(options), lifetime, kMaxNodeLifetime),
                    "node certificate for " + std::string(device_id));
}

Result<crypto::Certificate> FleetCa::IssueServerCertificate(const crypto::PublicKey& key,
                                                            std::vector<std::string> dns_names,
                                                            std::vector<std::string> ip_addresses,
                                                            std::chrono::seconds lifetime) const {
  if (dns_names.empty() && ip_addresses.empty()) {
    return Fail(ErrorCode::kInvalidInput, "a server certificate needs a DNS name or IP address");
  }
  crypto::IssueOptions options;
  // Clients match the subjectAltNames (RFC 6125); the common name is for people reading it.
  options.common_name = "fogkeep director";
  for (const std::vector<std::string>* names : {&dns_names, &ip_addresses}) {
    auto fits = std::find_if(names->begin(), names->end(), [](const std::string& name) {
      return !name.empty() && name.size() <= kMaxNameLength;
    });
    if (fits != names->end()) {
      options.common_name = *fits;
      break;
    }
  }
  options.extended_key_usages = {crypto::ExtendedKeyUsage::kServerAuth};
  options.dns_names = std::move(dns_names);
  options.ip_addresses = std::move(ip_addresses);
  return FK_TRY_CTX(IssueLeaf(key, std::move(options), lifetime, kMaxServerLifetime),
                    "server certificate");
}

Result<crypto::Crl> FleetCa::IssueRevocationList(
    const std::vector<std::string>& revoked_serials_hex, std::chrono::seconds lifetime) const {
  return FK_TRY_CTX(crypto::IssueCrlForSerials(cert_, key_, revoked_serials_hex, lifetime),
                    "fleet CRL");
}

}  // namespace fogkeep::director
