// fogkeep's TLS policy, applied to OpenSSL contexts that a transport library owns.
//
// Transports (Boost.Asio's ssl::context in net/) create and own the SSL_CTX; these functions
// set everything security-relevant on it, so that no OpenSSL call lives outside crypto/:
//   protocol   TLS 1.2 minimum
//   TLS 1.2    ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (AEAD, forward secrecy)
//   TLS 1.3    OpenSSL's default suites (all AEAD)
//   also       no renegotiation, no compression, no session tickets, security level 2
// Peer certificates are verified by TrustStore::Verify (the same chain, validity, CRL and EKU
// rules as package signers), with clientAuth required of clients and serverAuth of servers.
//
// `ssl_ctx` and `ssl` parameters are SSL_CTX* and SSL* passed as void* so callers need no
// OpenSSL headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "crypto/keys.h"
#include "crypto/x509.h"

namespace fogkeep::crypto {

// A private key and its certificate chain, leaf first, intermediates after.
struct TlsIdentity {
  PrivateKey key;
  std::vector<Certificate> chain;
};

struct ServerTlsSettings {
  TlsIdentity identity;
  // When set, clients are asked for a certificate; one that is presented must chain to these
  // anchors and carry the clientAuth EKU, or the handshake fails.
  std::optional<TrustStore> client_trust;
  // With client_trust: a client that presents no certificate fails the handshake.
  bool require_client_certificate = false;
};

struct ClientTlsSettings {
  // When set, the server's chain must verify against these anchors with the serverAuth EKU,
  // or the handshake fails. When not set, the handshake accepts any certificate and the caller
  // must check the peer itself (pinning) or have explicitly chosen no verification.
  std::optional<TrustStore> server_trust;
  // Client certificate for mutual TLS.
  std::optional<TlsIdentity> identity;
};

// Apply the policy above to a server SSL_CTX. The verification state is owned by the SSL_CTX
// and freed with it. kInvalidInput when the key does not match the leaf or the chain is empty.
Status ConfigureServerTls(void* ssl_ctx, const ServerTlsSettings& settings);
Status ConfigureClientTls(void* ssl_ctx, const ClientTlsSettings& settings);

// Per connection, before a client handshake: sends `host` as SNI when it is a DNS name (never
// for IP literals, per RFC 6066).
Status SetServerNameIndication(void* ssl, const std::string& host);

// Per connection, before a client handshake: presents `identity` on this connection in place of
// the context's own. One context (policy and server trust) then serves any number of client
// identities, each connection costing only its certificate's reference. kInvalidInput when the
// chain is empty or the key does not match its leaf.
Status UseConnectionIdentity(void* ssl, const TlsIdentity& identity);

// After a completed handshake: the leaf certificate the peer presented, if any. Whether it was
// verified depends on the context's settings (it was, whenever a trust store was configured).
std::optional<Certificate> PeerCertificate(void* ssl);

// After a failed handshake: why the peer's certificate was refused ("CN=x: certificate has
// expired"), or nullopt when certificate verification was not the cause.
std::optional<std::string> PeerVerificationError(void* ssl);

// OK when `cert` is valid for `host`: an IP literal must match an iPAddress subjectAltName, a
// name must match a dNSName (RFC 6125 rules, wildcards only as the whole left-most label).
// kIntegrity otherwise.
Status CheckCertificateHost(const Certificate& cert, std::string_view host);

// The negotiated protocol and cipher suite ("TLSv1.3", "TLS_AES_128_GCM_SHA256").
std::string NegotiatedProtocol(void* ssl);
std::string NegotiatedCipher(void* ssl);

}  // namespace fogkeep::crypto
