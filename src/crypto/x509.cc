#include "crypto/x509.h"

#include <dirent.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <ctime>
#include <utility>

#include "core/fs.h"
#include "crypto/hash.h"
#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

// Trust store files hold a few certificates and CRLs; a CRL of a large CA can reach megabytes.
constexpr std::size_t kMaxTrustFileBytes = 16 << 20;
// Random serial numbers: 16 bytes is 128 bits of entropy; with the top bit set the DER
// encoding gains a leading zero byte and stays within RFC 5280's 20-octet limit.
constexpr std::size_t kSerialBytes = 16;

// Longest lifetime or backdate accepted when issuing: far beyond any real use, far inside what
// TimePoint (nanoseconds, about 292 years either side of 1970) can hold.
constexpr std::chrono::seconds kMaxSpan = std::chrono::hours(24 * 365 * 100);

// Times beyond what TimePoint can hold (notAfter 99991231235959Z is common: RFC 5280's "no
// well-defined expiration date") saturate at TimePoint::max() / min().
std::optional<TimePoint> FromAsn1Time(const ASN1_TIME* time) {
  struct tm tm {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  const std::int64_t seconds = timegm(&tm);
  using std::chrono::duration_cast;
  const auto max = duration_cast<std::chrono::seconds>(TimePoint::max().time_since_epoch());
  const auto min = duration_cast<std::chrono::seconds>(TimePoint::min().time_since_epoch());
  if (seconds >= max.count()) return TimePoint::max();
  if (seconds <= min.count()) return TimePoint::min();
  return TimePoint(std::chrono::seconds(seconds));
}

std::time_t ToTimeT(TimePoint time) { return std::chrono::system_clock::to_time_t(time); }

unsigned long XkuBit(ExtendedKeyUsage eku) {
  switch (eku) {
    case ExtendedKeyUsage::kCodeSigning:
      return XKU_CODE_SIGN;
    case ExtendedKeyUsage::kServerAuth:
      return XKU_SSL_SERVER;
    case ExtendedKeyUsage::kClientAuth:
      return XKU_SSL_CLIENT;
  }
  return 0;
}

// The EKU bits a certificate grants, or nullopt when it has no extendedKeyUsage extension.
std::optional<std::uint32_t> ExtendedKeyUsageBits(X509* cert) {
  if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0) return std::nullopt;
  return X509_get_extended_key_usage(cert);
}

std::string SubjectOf(X509* cert) { return ossl::NameToString(X509_get_subject_name(cert)); }

// Adds an extension written in OpenSSL's configuration syntax. Only fixed strings built in this
// file are passed: names taken from callers go through typed structures instead, so they can
// never inject extra values.
Status AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ossl::ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal,
                         "adding the " + std::string(OBJ_nid2sn(nid)) + " extension");
  }
  return {};
}

// A DNS name for subjectAltName: letters, digits, '-', '.', '_', and '*' for wildcards.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '*';
  });
}

Status AddSubjectAltNames(X509* cert, const IssueOptions& options) {
  if (options.dns_names.empty() && options.ip_addresses.empty()) return {};
  ossl::GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return ossl::FailSsl(ErrorCode::kInternal, "sk_GENERAL_NAME_new_null");
  for (const std::string& dns : options.dns_names) {
    if (!IsDnsName(dns)) return Fail(ErrorCode::kInvalidInput, "invalid DNS name \"" + dns + "\"");
    ossl::GeneralNamePtr name(GENERAL_NAME_new());
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (!name || value == nullptr ||
        ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(value);
      return ossl::FailSsl(ErrorCode::kInternal, "building a DNS subjectAltName");
    }
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, value);
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return ossl::FailSsl(ErrorCode::kInternal, "sk_GENERAL_NAME_push");
    }
    name.release();
  }
  for (const std::string& ip : options.ip_addresses) {
    ossl::OctetStringPtr value(a2i_IPADDRESS(ip.c_str()));
    if (!value || ip.find('\0') != std::string::npos) {
      ossl::DrainErrors();
      return Fail(ErrorCode::kInvalidInput, "invalid IP address \"" + ip + "\"");
    }
    ossl::GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) return ossl::FailSsl(ErrorCode::kInternal, "GENERAL_NAME_new");
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, value.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return ossl::FailSsl(ErrorCode::kInternal, "sk_GENERAL_NAME_push");
    }
    name.release();
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "adding the subjectAltName extension");
  }
  return {};
}

Status AddNameEntry(X509_NAME* name, int nid, const std::string& value) {
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    // Typically a value longer than the attribute allows (64 characters for CN and O).
    return ossl::FailSsl(ErrorCode::kInvalidInput,
                         "invalid " + std::string(OBJ_nid2sn(nid)) + " \"" + value + "\"");
  }
  return {};
}

// The AKI to write for a certificate or CRL issued by `issuer`: its subject key identifier,
// or its name and serial when it has none (CAs created elsewhere may lack one). Looks at the
// extension list itself: the cached X509_get0_subject_key_id would freeze the extension cache
// of a certificate still being built.
std::string AuthorityKeyIdValue(const X509* issuer) {
  return X509_get_ext_by_NID(issuer, NID_subject_key_identifier, -1) >= 0 ? "keyid:always"
                                                                          : "issuer:always";
}

// Re-reads a certificate or CRL built here from its DER encoding, so the object handed out
// has exactly the state of one parsed from a file: OpenSSL caches decoded extensions (and, for
// CRLs, the issuer's key identifier used in CRL lookup) only when parsing.
template <typename T>
Result<std::shared_ptr<T>> Reparse(T* built, int (*encode)(const T*, unsigned char**),
                                   T* (*decode)(T**, const unsigned char**, long),
                                   void (*free_fn)(T*)) {
  unsigned char* der = nullptr;
  int size = encode(built, &der);
  if (size <= 0) return ossl::FailSsl(ErrorCode::kInternal, "DER-encoding the issued object");
  const unsigned char* p = der;
  T* parsed = decode(nullptr, &p, size);
  OPENSSL_free(der);
  if (parsed == nullptr) return ossl::FailSsl(ErrorCode::kInternal, "re-reading the issued object");
  return std::shared_ptr<T>(parsed, free_fn);
}

// Appends every certificate and CRL of the PEM text `pem` to `certs` and `crls`. Other blocks
// (keys, parameters) are ignored. Text with no certificate and no CRL is kInvalidInput.
Status AddPemObjects(std::string_view pem, std::vector<Certificate>& certs,
                     std::vector<Crl>& crls) {
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  ossl::X509InfoStackPtr infos(
      PEM_X509_INFO_read_bio(bio.get(), nullptr, ossl::RefusePassword, nullptr));
  if (!infos) return ossl::FailSsl(ErrorCode::kInvalidInput, "malformed PEM");
  std::size_t found = 0;
  for (int i = 0; i < sk_X509_INFO_num(infos.get()); ++i) {
    X509_INFO* info = sk_X509_INFO_value(infos.get(), i);
    if (info->x509 != nullptr) {
      certs.emplace_back(ossl::ShareX509(std::exchange(info->x509, nullptr)));
      ++found;
    }
    if (info->crl != nullptr) {
      crls.emplace_back(ossl::ShareCrl(std::exchange(info->crl, nullptr)));
      ++found;
    }
  }
  if (found == 0) return Fail(ErrorCode::kInvalidInput, "no PEM certificate or CRL");
  return {};
}

bool IsTrustFileName(std::string_view name) {
  for (std::string_view suffix : {".pem", ".crt", ".crl"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  }
  return false;
}

// The trust files of a directory, sorted. Symlinks are followed (as in /etc/ssl/certs): the
// directory is the administrator's, not untrusted input.
Result<std::vector<std::string>> TrustFilesIn(const std::string& dir) {
  std::unique_ptr<DIR, ossl::Free<closedir>> handle(opendir(dir.c_str()));
  if (!handle) return FailErrno("opendir " + dir, errno);
  std::vector<std::string> files;
  errno = 0;
  while (struct dirent* entry = readdir(handle.get())) {
    std::string_view name = entry->d_name;
    if (!IsTrustFileName(name)) continue;
    std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return FailErrno("stat " + path, errno);
    if (S_ISREG(st.st_mode)) files.push_back(std::move(path));
    errno = 0;
  }
  if (errno != 0) return FailErrno("readdir " + dir, errno);
  std::sort(files.begin(), files.end());
  return files;
}

// Chain verification accepts a certificate whose issuer has no CRL in the store, and nothing
// else: every other error keeps failing.
int IgnoreMissingCrl(int ok, X509_STORE_CTX* ctx) {
  if (ok == 0 && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
    return 1;
  }
  return ok;
}

std::string VerifyErrorText(int error) {
  // OpenSSL's own text is "certificate revoked"; say it as the rest of fogkeep does.
  if (error == X509_V_ERR_CERT_REVOKED) return "certificate is revoked";
  return X509_verify_cert_error_string(error);
}

}  // namespace

std::string_view ExtendedKeyUsageName(ExtendedKeyUsage eku) {
  switch (eku) {
    case ExtendedKeyUsage::kCodeSigning:
      return "codeSigning";
    case ExtendedKeyUsage::kServerAuth:
      return "serverAuth";
    case ExtendedKeyUsage::kClientAuth:
      return "clientAuth";
  }
  return "unknown";
}

// ---- Certificate ----

Result<Certificate> Certificate::FromPem(std::string_view pem) {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, ossl::RefusePassword, nullptr);
  if (cert == nullptr) return ossl::FailSsl(ErrorCode::kInvalidInput, "no PEM certificate");
  return Certificate(ossl::ShareX509(cert));
}

Result<Certificate> Certificate::FromDer(std::string_view der) {
  ossl::ErrorQueueScope errors;
  if (der.size() > static_cast<std::size_t>(INT_MAX)) {
    return Fail(ErrorCode::kLimit, "DER certificate is too large");
  }
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  X509* raw = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (raw == nullptr) return ossl::FailSsl(ErrorCode::kInvalidInput, "malformed DER certificate");
  auto cert = ossl::ShareX509(raw);
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kInvalidInput, "trailing bytes after the DER certificate");
  }
  return Certificate(std::move(cert));
}

Result<std::vector<Certificate>> Certificate::BundleFromPem(std::string_view pem) {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  std::vector<Certificate> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, ossl::RefusePassword, nullptr)) {
    certs.emplace_back(ossl::ShareX509(cert));
  }
  // The loop ends at the end of the text ("no start line") or at a block that is malformed.
  unsigned long last = ERR_peek_last_error();
  if (last != 0 &&
      !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    return ossl::FailSsl(ErrorCode::kInvalidInput,
                         "malformed PEM certificate #" + std::to_string(certs.size() + 1));
  }
  if (certs.empty()) return Fail(ErrorCode::kInvalidInput, "no PEM certificate");
  return certs;
}

std::string Certificate::ToPem() const {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = ossl::WriteBio();
  if (PEM_write_bio_X509(bio.get(), cert_.get()) != 1) ossl::Die("PEM_write_bio_X509");
  return ossl::BioContents(bio.get());
}

std::string Certificate::ToDer() const {
  ossl::ErrorQueueScope errors;
  unsigned char* der = nullptr;
  int size = i2d_X509(cert_.get(), &der);
  if (size <= 0) ossl::Die("i2d_X509");
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string Certificate::Subject() const { return SubjectOf(cert_.get()); }

std::string Certificate::Issuer() const {
  return ossl::NameToString(X509_get_issuer_name(cert_.get()));
}

std::string Certificate::CommonName() const {
  const X509_NAME* name = X509_get_subject_name(cert_.get());
  // The last CN is the most specific one when a name holds several.
  int index = -1;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) index = i;
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int size = ASN1_STRING_to_UTF8(&utf8, data);
  if (size < 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(size));
  OPENSSL_free(utf8);
  return out;
}

std::string Certificate::SerialHex() const {
  ossl::ErrorQueueScope errors;
  ossl::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  if (!bn) ossl::Die("ASN1_INTEGER_to_BN");
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) ossl::Die("BN_bn2hex");
  std::string out(hex);
  OPENSSL_free(hex);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A validity time OpenSSL cannot read yields the bound that makes the certificate invalid:
// NotBefore in the far future, NotAfter in the far past.
TimePoint Certificate::NotBefore() const {
  return FromAsn1Time(X509_get0_notBefore(cert_.get())).value_or(TimePoint::max());
}

TimePoint Certificate::NotAfter() const {
  return FromAsn1Time(X509_get0_notAfter(cert_.get())).value_or(TimePoint::min());
}

bool Certificate::IsCa() const {
  uint32_t flags = X509_get_extension_flags(cert_.get());
  return (flags & EXFLAG_CA) != 0 && (flags & EXFLAG_INVALID) == 0;
}

bool Certificate::HasExtendedKeyUsage(ExtendedKeyUsage eku) const {
  // Only an explicit listing counts: neither a missing extension nor anyExtendedKeyUsage
  // makes a certificate a code signer.
  std::optional<std::uint32_t> bits = ExtendedKeyUsageBits(cert_.get());
  return bits && (*bits & XkuBit(eku)) != 0;
}

PublicKey Certificate::Key() const {
  // Null when OpenSSL could not decode the key; PublicKey refuses to verify with it then.
  EVP_PKEY* key = X509_get_pubkey(cert_.get());
  ERR_clear_error();
  auto type = ossl::DetectKeyType(key);
  return PublicKey(ossl::SharePkey(key), type.value_or(KeyType::kRsa));
}

std::string Certificate::Fingerprint() const { return Sha256Hex(ToDer()); }

// ---- Crl ----

Result<Crl> Crl::FromPem(std::string_view pem) {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = FK_TRY(ossl::ReadBio(pem));
  X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, ossl::RefusePassword, nullptr);
  if (crl == nullptr) return ossl::FailSsl(ErrorCode::kInvalidInput, "no PEM CRL");
  return Crl(ossl::ShareCrl(crl));
}

std::string Crl::ToPem() const {
  ossl::ErrorQueueScope errors;
  ossl::BioPtr bio = ossl::WriteBio();
  if (PEM_write_bio_X509_CRL(bio.get(), crl_.get()) != 1) ossl::Die("PEM_write_bio_X509_CRL");
  return ossl::BioContents(bio.get());
}

std::string Crl::Issuer() const { return ossl::NameToString(X509_CRL_get_issuer(crl_.get())); }

bool Crl::Lists(const Certificate& cert) const {
  ossl::ErrorQueueScope errors;
  // Matches the serial and the certificate's issuer name; 2 would be a removeFromCRL entry.
  X509_REVOKED* entry = nullptr;
  return X509_CRL_get0_by_cert(crl_.get(), &entry, cert.native()) == 1;
}

// ---- Issuance ----

Result<Certificate> IssueCertificate(const PublicKey& subject_key, const IssueOptions& options,
                                     const Certificate* issuer, const PrivateKey& issuer_key) {
  ossl::ErrorQueueScope errors;
  if (options.common_name.empty()) {
    return Fail(ErrorCode::kInvalidInput, "a certificate needs a common name");
  }
  if (subject_key.native() == nullptr) return Fail(ErrorCode::kInvalidInput, "no subject key");
  KeyType signer_type = FK_TRY(ossl::CheckedKeyType(issuer_key.native(), issuer_key.type()));
  if (issuer == nullptr) {
    if (EVP_PKEY_eq(subject_key.native(), issuer_key.native()) != 1) {
      return Fail(ErrorCode::kInvalidInput,
                  "a self-signed certificate must be signed with the subject's own key");
    }
  } else {
    if (!issuer->IsCa()) {
      return Fail(ErrorCode::kInvalidInput, "issuer " + issuer->Subject() + " is not a CA");
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(issuer->native()), issuer_key.native()) != 1) {
      return Fail(ErrorCode::kInvalidInput,
                  "the issuer key does not match the certificate of " + issuer->Subject());
    }
  }
  if (options.lifetime <= std::chrono::seconds(0) || options.lifetime > kMaxSpan ||
      options.backdate < std::chrono::seconds(0) || options.backdate > kMaxSpan) {
    return Fail(ErrorCode::kInvalidInput, "lifetime and backdate must be between 0 and 100 years");
  }
  const TimePoint now = std::chrono::system_clock::now();
  const TimePoint not_before = options.not_before.value_or(now - options.backdate);
  const TimePoint not_after = options.not_after.value_or(now + options.lifetime);
  if (not_after <= not_before) {
    return Fail(ErrorCode::kInvalidInput, "notAfter must be later than notBefore");
  }
  ERR_clear_error();  // EVP_PKEY_eq may leave entries for keys of different types

  ossl::X509Ptr cert(X509_new());
  if (!cert) return ossl::FailSsl(ErrorCode::kInternal, "X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "X509_set_version");
  }

  std::string random = RandomBytes(kSerialBytes);
  ossl::BignumPtr serial(BN_bin2bn(reinterpret_cast<const unsigned char*>(random.data()),
                                   static_cast<int>(random.size()), nullptr));
  if (!serial) return ossl::FailSsl(ErrorCode::kInternal, "BN_bin2bn");
  if (BN_is_zero(serial.get()) && BN_one(serial.get()) != 1) {  // serials must be positive
    return ossl::FailSsl(ErrorCode::kInternal, "BN_one");
  }
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return ossl::FailSsl(ErrorCode::kInternal, "BN_to_ASN1_INTEGER");
  }

  // Entries in DER order, most general first: RFC 2253 prints them reversed, "CN=...,O=...".
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!options.organization.empty()) {
    FK_TRY(AddNameEntry(subject, NID_organizationName, options.organization));
  }
  FK_TRY(AddNameEntry(subject, NID_commonName, options.common_name));
  X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer->native()) : subject;
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "X509_set_issuer_name");
  }

  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), ToTimeT(not_after)) == nullptr) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "validity period out of range");
  }
  if (X509_set_pubkey(cert.get(), subject_key.native()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "X509_set_pubkey");
  }

  X509V3_CTX ctx{};
  X509* issuer_cert = issuer != nullptr ? issuer->native() : cert.get();
  X509V3_set_ctx(&ctx, issuer_cert, cert.get(), nullptr, nullptr, 0);
  if (options.is_ca) {
    std::string constraints = "critical,CA:TRUE";
    if (options.path_length >= 0) constraints += ",pathlen:" + std::to_string(options.path_length);
    FK_TRY(AddConfExtension(cert.get(), &ctx, NID_basic_constraints, constraints));
    FK_TRY(AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    if (!options.compact) {
      FK_TRY(AddConfExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    }
    FK_TRY(AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
  }
  if (!options.extended_key_usages.empty()) {
    std::string usages;
    for (ExtendedKeyUsage eku : options.extended_key_usages) {
      if (!usages.empty()) usages += ",";
      usages += ExtendedKeyUsageName(eku);
    }
    FK_TRY(AddConfExtension(cert.get(), &ctx, NID_ext_key_usage, usages));
  }
  FK_TRY(AddSubjectAltNames(cert.get(), options));
  // The subject key identifier goes first: a self-signed certificate's AKI copies it.
  if (options.is_ca || !options.compact) {
    FK_TRY(AddConfExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  }
  FK_TRY(AddConfExtension(cert.get(), &ctx, NID_authority_key_identifier,
                          AuthorityKeyIdValue(issuer_cert)));

  if (X509_sign(cert.get(), issuer_key.native(), ossl::SignatureDigest(signer_type)) <= 0) {
    return ossl::FailSsl(ErrorCode::kInternal, "signing the certificate");
  }
  return Certificate(FK_TRY(Reparse<X509>(cert.get(), i2d_X509, d2i_X509, X509_free)));
}

namespace {

// A certificate serial number as Certificate::SerialHex() writes it (case aside): 1 to 40 hex
// digits, a positive value of at most 20 octets (RFC 5280 §4.1.2.2).
Result<ossl::Asn1IntegerPtr> SerialFromHex(const std::string& hex) {
  const bool digits_ok =
      !hex.empty() && hex.size() <= 40 && std::all_of(hex.begin(), hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      });
  BIGNUM* raw = nullptr;
  if (!digits_ok || BN_hex2bn(&raw, hex.c_str()) != static_cast<int>(hex.size())) {
    BN_free(raw);
    ossl::DrainErrors();
    return Fail(ErrorCode::kInvalidInput, "invalid certificate serial number \"" + hex + "\"");
  }
  ossl::BignumPtr bn(raw);
  if (BN_is_zero(bn.get())) {
    return Fail(ErrorCode::kInvalidInput, "certificate serial number 0 is not valid");
  }
  ossl::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return ossl::FailSsl(ErrorCode::kInternal, "BN_to_ASN1_INTEGER");
  return serial;
}

// IssueCrl for serials already known to belong to `ca`.
Result<Crl> IssueCrlOfSerials(const Certificate& ca, const PrivateKey& ca_key,
                              const std::vector<const ASN1_INTEGER*>& revoked,
                              std::chrono::seconds lifetime) {
  ossl::ErrorQueueScope errors;
  if (!ca.IsCa()) return Fail(ErrorCode::kInvalidInput, ca.Subject() + " is not a CA");
  KeyType signer_type = FK_TRY(ossl::CheckedKeyType(ca_key.native(), ca_key.type()));
  if (EVP_PKEY_eq(X509_get0_pubkey(ca.native()), ca_key.native()) != 1) {
    return Fail(ErrorCode::kInvalidInput,
                "the CA key does not match the certificate of " + ca.Subject());
  }
  if (lifetime <= std::chrono::seconds(0) || lifetime > kMaxSpan) {
    return Fail(ErrorCode::kInvalidInput, "a CRL lifetime must be between 0 and 100 years");
  }
  ERR_clear_error();
  const X509_NAME* ca_name = X509_get_subject_name(ca.native());

  ossl::CrlPtr crl(X509_CRL_new());
  if (!crl) return ossl::FailSsl(ErrorCode::kInternal, "X509_CRL_new");
  const std::time_t now = std::time(nullptr);
  ossl::Asn1TimePtr this_update(ASN1_TIME_set(nullptr, now));
  ossl::Asn1TimePtr next_update(ASN1_TIME_set(nullptr, now + lifetime.count()));
  if (!this_update || !next_update) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "CRL validity period out of range");
  }
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), ca_name) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "building the CRL");
  }

  for (const ASN1_INTEGER* serial : revoked) {
    ossl::RevokedPtr entry(X509_REVOKED_new());
    // X509_REVOKED_set_serialNumber copies the serial; OpenSSL 3.0 declares it non-const.
    if (!entry ||
        X509_REVOKED_set_serialNumber(entry.get(), const_cast<ASN1_INTEGER*>(serial)) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), this_update.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return ossl::FailSsl(ErrorCode::kInternal, "adding a revoked entry");
    }
    entry.release();
  }
  if (X509_CRL_sort(crl.get()) != 1) return ossl::FailSsl(ErrorCode::kInternal, "X509_CRL_sort");

  X509V3_CTX ctx{};
  X509V3_set_ctx(&ctx, ca.native(), nullptr, nullptr, crl.get(), 0);
  ossl::ExtensionPtr aki(X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier,
                                              AuthorityKeyIdValue(ca.native()).c_str()));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "adding the CRL authorityKeyIdentifier");
  }
  // RFC 5280 requires a monotonically increasing cRLNumber; the issue time in milliseconds is
  // one without keeping state.
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ossl::Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), millis) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "adding the cRLNumber");
  }

  if (X509_CRL_sign(crl.get(), ca_key.native(), ossl::SignatureDigest(signer_type)) <= 0) {
    return ossl::FailSsl(ErrorCode::kInternal, "signing the CRL");
  }
  return Crl(FK_TRY(Reparse<X509_CRL>(crl.get(), i2d_X509_CRL, d2i_X509_CRL, X509_CRL_free)));
}

}  // namespace

Result<Crl> IssueCrl(const Certificate& ca, const PrivateKey& ca_key,
                     const std::vector<Certificate>& revoked, std::chrono::seconds lifetime) {
  ossl::ErrorQueueScope errors;
  std::vector<const ASN1_INTEGER*> serials;
  for (const Certificate& cert : revoked) {
    // A CRL names serials of its own issuer only; another CA's serial would mean nothing.
    if (X509_NAME_cmp(X509_get_issuer_name(cert.native()), X509_get_subject_name(ca.native())) !=
        0) {
      return Fail(ErrorCode::kInvalidInput, cert.Subject() + " (serial " + cert.SerialHex() +
                                                ") was not issued by " + ca.Subject());
    }
    serials.push_back(X509_get0_serialNumber(cert.native()));
  }
  return IssueCrlOfSerials(ca, ca_key, serials, lifetime);
}

Result<Crl> IssueCrlForSerials(const Certificate& ca, const PrivateKey& ca_key,
                               const std::vector<std::string>& revoked_serials_hex,
                               std::chrono::seconds lifetime) {
  std::vector<ossl::Asn1IntegerPtr> owned;
  std::vector<const ASN1_INTEGER*> serials;
  for (const std::string& hex : revoked_serials_hex) {
    owned.push_back(FK_TRY(SerialFromHex(hex)));
    serials.push_back(owned.back().get());
  }
  return IssueCrlOfSerials(ca, ca_key, serials, lifetime);
}

// ---- TrustStore ----

TrustStore::TrustStore() = default;

Result<TrustStore> TrustStore::Load(const std::string& file_or_dir) {
  struct stat st {};
  if (::stat(file_or_dir.c_str(), &st) != 0) return FailErrno("stat " + file_or_dir, errno);
  std::vector<std::string> files;
  if (S_ISDIR(st.st_mode)) {
    files = FK_TRY(TrustFilesIn(file_or_dir));
  } else {
    files.push_back(file_or_dir);
  }
  ossl::ErrorQueueScope errors;
  TrustStore store;
  for (const std::string& file : files) {
    std::string pem = FK_TRY(fs::ReadFile(file, kMaxTrustFileBytes));
    FK_TRY_CTX(AddPemObjects(pem, store.anchors_, store.crls_), file);
  }
  if (store.anchors_.empty()) {
    return Fail(ErrorCode::kInvalidInput, file_or_dir + ": no trust anchor certificate");
  }
  return store;
}

void TrustStore::AddAnchor(Certificate cert) { anchors_.push_back(std::move(cert)); }

void TrustStore::AddCrl(Crl crl) { crls_.push_back(std::move(crl)); }

Status TrustStore::Verify(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                          ExtendedKeyUsage required, std::optional<TimePoint> at) const {
  ossl::ErrorQueueScope errors;
  if (anchors_.empty()) return Fail(ErrorCode::kIntegrity, "the trust store has no anchors");

  ossl::StorePtr store(X509_STORE_new());
  if (!store) return ossl::FailSsl(ErrorCode::kInternal, "X509_STORE_new");
  for (const Certificate& anchor : anchors_) {
    if (X509_STORE_add_cert(store.get(), anchor.native()) != 1) {
      return ossl::FailSsl(ErrorCode::kInternal, "X509_STORE_add_cert");
    }
  }
  for (const Crl& crl : crls_) {
    if (X509_STORE_add_crl(store.get(), crl.native()) != 1) {
      return ossl::FailSsl(ErrorCode::kInternal, "X509_STORE_add_crl");
    }
  }
  ossl::BorrowedX509StackPtr untrusted(sk_X509_new_null());
  if (!untrusted) return ossl::FailSsl(ErrorCode::kInternal, "sk_X509_new_null");
  for (const Certificate& cert : intermediates) {
    if (sk_X509_push(untrusted.get(), cert.native()) <= 0) {
      return ossl::FailSsl(ErrorCode::kInternal, "sk_X509_push");
    }
  }

  ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(), untrusted.get()) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set_verify_cb(ctx.get(), IgnoreMissingCrl);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(
      param, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  if (at) X509_VERIFY_PARAM_set_time(param, ToTimeT(*at));

  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    X509* failing = X509_STORE_CTX_get_current_cert(ctx.get());
    if (failing == nullptr) failing = leaf.native();
    return Fail(ErrorCode::kIntegrity, SubjectOf(failing) + ": " + VerifyErrorText(error));
  }

  const std::string eku_name(ExtendedKeyUsageName(required));
  if (!leaf.HasExtendedKeyUsage(required)) {
    return Fail(ErrorCode::kIntegrity,
                leaf.Subject() + ": certificate lacks the " + eku_name + " extended key usage");
  }
  // A CA that lists extended key usages restricts what it vouches for (the rule browsers and
  // Windows code signing apply): each one above the leaf must allow the usage or any usage.
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 1; i < sk_X509_num(chain); ++i) {
    X509* ca = sk_X509_value(chain, i);
    std::optional<std::uint32_t> bits = ExtendedKeyUsageBits(ca);
    if (bits && (*bits & (XkuBit(required) | XKU_ANYEKU)) == 0) {
      return Fail(ErrorCode::kIntegrity, SubjectOf(ca) + ": CA certificate does not allow the " +
                                             eku_name + " extended key usage");
    }
  }
  return {};
}

}  // namespace fogkeep::crypto
