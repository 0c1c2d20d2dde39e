// RadiusClient: PAP logins against RADIUS servers (RFC 2865) over UDP, with the defences
// against forged responses that RFC 3579 and the Blast-RADIUS advisory (CVE-2024-3596) call
// for: a Message-Authenticator on every Access-Request, and on every response a
// Message-Authenticator that must be present and verify, as must the Response Authenticator.
//
// Why fogkeep has its own client: Debian's radcli (1.2) predates the Blast-RADIUS fixes: it
// neither requires nor verifies Message-Authenticator in responses. A PAP client is small
// enough to own, and its response parser is fuzzed (fuzz/fuzz_radius_response.cc).
//
// Each login tries the servers in order. Per server it opens a fresh connected UDP socket
// (the kernel then delivers only datagrams from that server's address and port) and sends a
// request with a fresh random Request Authenticator and identifier; it retransmits that same
// request `retries` times when `timeout` passes without a valid answer, and moves on to the
// next server when every try of this one has passed. A datagram that does not verify is
// dropped and the wait goes on: an off-path forgery must not end a login. A refused
// connection (ICMP port unreachable) ends the current try early.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/backend.h"
#include "core/error.h"

namespace fogkeep::auth {

struct RadiusServerConfig {
  std::string host;  // an IPv4 or IPv6 address or a host name, resolved for every login
  std::uint16_t port = 1812;
  // File holding the shared secret: a regular file without access for others (0600 or
  // 0640), one line; a final newline is not part of the secret.
  std::string secret_file;
};

// Which response attribute a role mapping reads.
enum class RoleAttribute { kClass, kFilterId };

// "A response carrying `attribute` with exactly `value` gives `role`."
struct RoleMapping {
  RoleAttribute attribute = RoleAttribute::kClass;
  std::string value;
  std::string role;
};

struct RadiusClientConfig {
  std::vector<RadiusServerConfig> servers;  // tried in this order; at least one
  std::chrono::milliseconds timeout{3000};  // wait for a valid answer to one transmission
  int retries = 2;                          // retransmissions per server after the first send
  std::string nas_identifier = "fogkeep";   // sent as NAS-Identifier
  // Checked in this order; the first mapping whose attribute and value occur in an
  // Access-Accept gives the role. An Access-Accept that matches none gives no role.
  std::vector<RoleMapping> roles;
};

// What the servers said about one login.
struct RadiusVerdict {
  bool accepted = false;    // an Access-Accept that verified
  bool challenged = false;  // an Access-Challenge that verified (not accepted)
  std::string role;         // from the first matching RoleMapping; empty if none matched
  std::string reply_message;
};

class RadiusClient {
 public:
  // Validates `config` and reads every server's secret file. kInvalidInput for a config
  // without servers, a zero port, a timeout below 1 ms, negative retries, an empty host or
  // NAS-Identifier, or a mapping with an empty value or role; a secret file that others may
  // access, that is not a regular file, or that holds an empty secret is refused, and a
  // missing one is kNotFound. Secrets are read once: a changed secret needs a new client.
  static Result<RadiusClient> Create(RadiusClientConfig config);

  // Asks the servers whether `password` is right for `user`. An Access-Accept or
  // Access-Reject that verified is a verdict (an Access-Challenge is a refusal: PAP logins
  // cannot answer one). Errors: kInvalidInput for a user name or password that RADIUS cannot
  // carry (empty, NUL, over 253 / 128 bytes); when no server gave a verified answer,
  // kIntegrity or kInvalidInput naming the last response that was dropped as forged or
  // malformed, or else kUnavailable (timeouts, unreachable or unresolvable servers).
  // Thread-safe: every call uses sockets of its own.
  Result<RadiusVerdict> Authenticate(std::string_view user, std::string_view password) const;

  const RadiusClientConfig& config() const { return config_; }

 private:
  struct Server {
    RadiusServerConfig config;
    std::string secret;
  };
  RadiusClient(RadiusClientConfig config, std::vector<Server> servers)
      : config_(std::move(config)), servers_(std::move(servers)) {}

  // Constant after construction.
  RadiusClientConfig config_;
  std::vector<Server> servers_;
};

// Reads a RADIUS shared secret from `path` under the rules of RadiusServerConfig::secret_file.
Result<std::string> ReadSecretFile(const std::string& path);

// RADIUS as an AuthBackend: accepted only for an Access-Accept whose attributes map to a role.
class RadiusBackend : public AuthBackend {
 public:
  explicit RadiusBackend(RadiusClient client) : client_(std::move(client)) {}

  // `source_address` is not sent to the servers.
  Result<AuthOutcome> Authenticate(std::string_view user, std::string_view password,
                                   std::string_view source_address) override;

 private:
  const RadiusClient client_;
};

}  // namespace fogkeep::auth
