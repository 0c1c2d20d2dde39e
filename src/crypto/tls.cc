#include "crypto/tls.h"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <utility>
#include <vector>

#include "core/log.h"
#include "crypto/openssl_util.h"

namespace fogkeep::crypto {
namespace {

// TLS 1.2: ECDHE only (forward secrecy), AEAD only. TLS 1.3 suites are all AEAD; these are
// OpenSSL's defaults, written out so a changed library default cannot widen them. Both lists
// put AES-128-GCM first (as Mozilla's "modern" profile does): it matches the 128-bit strength
// of the P-256 and Ed25519 keys, and a TLS 1.3 connection then keeps a SHA-256 transcript
// rather than a SHA-384 one for its lifetime, 100 bytes less for each of a director's nodes.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
// A peer chain longer than this is refused before any signature is checked.
constexpr int kMaxPeerChain = 8;

// What the verification callback of one SSL_CTX needs; owned by that SSL_CTX's ex_data.
struct PeerVerification {
  TrustStore trust;
  ExtendedKeyUsage required;
};

void FreePeerVerification(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                          long /*argl*/, void* /*argp*/) {
  delete static_cast<PeerVerification*>(ptr);
}

int PeerVerificationIndex() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreePeerVerification);
  return index;
}

void FreeRefusalReason(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                       long /*argl*/, void* /*argp*/) {
  delete static_cast<std::string*>(ptr);
}

// Per SSL: the reason TrustStore::Verify gave for refusing the peer, for error messages.
int RefusalReasonIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeRefusalReason);
  return index;
}

void RecordRefusal(X509_STORE_CTX* store_ctx, const std::string& reason) {
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return;
  const int index = RefusalReasonIndex();
  delete static_cast<std::string*>(SSL_get_ex_data(ssl, index));
  SSL_set_ex_data(ssl, index, new std::string(reason));
}

// Replaces OpenSSL's chain building with TrustStore::Verify, so TLS peers are judged by the same
// rules (anchors, validity, CRLs, EKU on the leaf and its CAs) as every other certificate.
int VerifyPeerChain(X509_STORE_CTX* store_ctx, void* arg) {
  const auto* verification = static_cast<const PeerVerification*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
  if (leaf == nullptr) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  STACK_OF(X509)* presented = X509_STORE_CTX_get0_untrusted(store_ctx);
  if (presented != nullptr && sk_X509_num(presented) > kMaxPeerChain) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_CHAIN_TOO_LONG);
    return 0;
  }
  std::vector<Certificate> intermediates;
  for (int i = 0; presented != nullptr && i < sk_X509_num(presented); ++i) {
    X509* cert = sk_X509_value(presented, i);
    if (X509_cmp(cert, leaf) == 0) continue;
    X509_up_ref(cert);
    intermediates.emplace_back(ossl::ShareX509(cert));
  }
  X509_up_ref(leaf);
  Certificate leaf_cert(ossl::ShareX509(leaf));
  Status verified = verification->trust.Verify(leaf_cert, intermediates, verification->required);
  if (!verified) {
    log::Warn("TLS peer certificate refused: {}", verified.error().message());
    RecordRefusal(store_ctx, verified.error().message());
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
  return 1;
}

Status ApplyProtocolPolicy(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "SSL_CTX_set_min_proto_version");
  }
  SSL_CTX_set_security_level(ctx, 2);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "SSL_CTX_set_cipher_list");
  }
  if (SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1) {
    return ossl::FailSsl(ErrorCode::kInternal, "SSL_CTX_set_ciphersuites");
  }
  return {};
}

// The certificates sent after the leaf: its chain without a self-signed root. The peer must
// hold the root as its anchor anyway (RFC 8446 4.4.2 lets it be left out), and a sent copy
// costs bytes on the wire and, at the peer, a parsed certificate kept for the connection's
// lifetime (some 4 KiB of a director's memory for each node connected).
std::vector<X509*> ChainToSend(const TlsIdentity& identity) {
  std::vector<X509*> chain;
  for (std::size_t i = 1; i < identity.chain.size(); ++i) {
    X509* cert = identity.chain[i].native();
    if ((X509_get_extension_flags(cert) & EXFLAG_SS) == 0) chain.push_back(cert);
  }
  return chain;
}

Status UseIdentity(SSL_CTX* ctx, const TlsIdentity& identity) {
  if (identity.chain.empty()) {
    return Fail(ErrorCode::kInvalidInput, "the TLS identity has no certificate");
  }
  if (SSL_CTX_use_certificate(ctx, identity.chain.front().native()) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "using the TLS certificate");
  }
  SSL_CTX_clear_chain_certs(ctx);
  for (X509* cert : ChainToSend(identity)) {
    if (SSL_CTX_add1_chain_cert(ctx, cert) != 1) {
      return ossl::FailSsl(ErrorCode::kInvalidInput, "adding a TLS chain certificate");
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, identity.key.native()) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "using the TLS private key");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput,
                         "the TLS private key does not match the certificate");
  }
  return {};
}

void InstallPeerVerification(SSL_CTX* ctx, TrustStore trust, ExtendedKeyUsage required) {
  auto* verification = new PeerVerification{std::move(trust), required};
  const int index = PeerVerificationIndex();
  delete static_cast<PeerVerification*>(SSL_CTX_get_ex_data(ctx, index));
  SSL_CTX_set_ex_data(ctx, index, verification);
  SSL_CTX_set_cert_verify_callback(ctx, VerifyPeerChain, verification);
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Status ConfigureServerTls(void* ssl_ctx, const ServerTlsSettings& settings) {
  ossl::ErrorQueueScope errors;
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  FK_TRY(ApplyProtocolPolicy(ctx));
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Resumption is not worth its state for an API server; no tickets also means nothing is
  // written to a client after its response, which keeps idle keep-alive sockets quiet.
  SSL_CTX_set_num_tickets(ctx, 0);
  FK_TRY(UseIdentity(ctx, settings.identity));
  if (settings.client_trust) {
    for (const Certificate& anchor : settings.client_trust->anchors()) {
      if (SSL_CTX_add_client_CA(ctx, anchor.native()) != 1) {
        return ossl::FailSsl(ErrorCode::kInternal, "SSL_CTX_add_client_CA");
      }
    }
    int mode = SSL_VERIFY_PEER;
    if (settings.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    InstallPeerVerification(ctx, *settings.client_trust, ExtendedKeyUsage::kClientAuth);
  } else {
    if (settings.require_client_certificate) {
      return Fail(ErrorCode::kInvalidInput,
                  "requiring client certificates needs a client trust store");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return {};
}

Status ConfigureClientTls(void* ssl_ctx, const ClientTlsSettings& settings) {
  ossl::ErrorQueueScope errors;
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  FK_TRY(ApplyProtocolPolicy(ctx));
  if (settings.identity) FK_TRY(UseIdentity(ctx, *settings.identity));
  if (settings.server_trust) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    InstallPeerVerification(ctx, *settings.server_trust, ExtendedKeyUsage::kServerAuth);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return {};
}

Status SetServerNameIndication(void* ssl, const std::string& host) {
  ossl::ErrorQueueScope errors;
  if (host.empty() || IsIpLiteral(host)) return {};
  if (SSL_set_tlsext_host_name(static_cast<SSL*>(ssl), host.c_str()) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "setting the TLS server name " + host);
  }
  return {};
}

Status UseConnectionIdentity(void* ssl, const TlsIdentity& identity) {
  ossl::ErrorQueueScope errors;
  auto* s = static_cast<SSL*>(ssl);
  if (identity.chain.empty()) {
    return Fail(ErrorCode::kInvalidInput, "the TLS identity has no certificate");
  }
  if (SSL_use_certificate(s, identity.chain.front().native()) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "using the TLS certificate");
  }
  SSL_clear_chain_certs(s);
  for (X509* cert : ChainToSend(identity)) {
    if (SSL_add1_chain_cert(s, cert) != 1) {
      return ossl::FailSsl(ErrorCode::kInvalidInput, "adding a TLS chain certificate");
    }
  }
  if (SSL_use_PrivateKey(s, identity.key.native()) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput, "using the TLS private key");
  }
  if (SSL_check_private_key(s) != 1) {
    return ossl::FailSsl(ErrorCode::kInvalidInput,
                         "the TLS private key does not match the certificate");
  }
  return {};
}

std::optional<Certificate> PeerCertificate(void* ssl) {
  X509* cert = SSL_get1_peer_certificate(static_cast<SSL*>(ssl));
  if (cert == nullptr) return std::nullopt;
  return Certificate(ossl::ShareX509(cert));
}

std::optional<std::string> PeerVerificationError(void* ssl) {
  auto* s = static_cast<SSL*>(ssl);
  if (const auto* reason =
          static_cast<const std::string*>(SSL_get_ex_data(s, RefusalReasonIndex()))) {
    return *reason;
  }
  const long result = SSL_get_verify_result(s);
  if (result == X509_V_OK) return std::nullopt;
  return std::string(X509_verify_cert_error_string(result));
}

Status CheckCertificateHost(const Certificate& cert, std::string_view host) {
  ossl::ErrorQueueScope errors;
  const std::string name(host);
  if (name.empty() || name.find('\0') != std::string::npos) {
    return Fail(ErrorCode::kInvalidInput, "invalid host name for certificate matching");
  }
  int matched = 0;
  if (IsIpLiteral(name)) {
    matched = X509_check_ip_asc(cert.native(), name.c_str(), 0);
  } else {
    matched = X509_check_host(
        cert.native(), name.data(), name.size(),
        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr);
  }
  if (matched != 1) {
    return Fail(ErrorCode::kIntegrity,
                cert.Subject() + ": certificate is not valid for host " + name);
  }
  return {};
}

std::string NegotiatedProtocol(void* ssl) { return SSL_get_version(static_cast<SSL*>(ssl)); }

std::string NegotiatedCipher(void* ssl) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(static_cast<SSL*>(ssl));
  return cipher == nullptr ? std::string() : std::string(SSL_CIPHER_get_name(cipher));
}

}  // namespace fogkeep::crypto
