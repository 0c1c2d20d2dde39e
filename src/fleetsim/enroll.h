// How simulated nodes get their fleet identities: through the director's real enrollment.
//
// Per node: POST /api/v1/enrollment-tokens with the operator's API token (a network-manager's)
// creates a one-time enrollment token carrying the tags; a new EC P-256 key signs a PKCS#10
// request named "<prefix>-<index>"; POST /.well-known/est/simpleenroll with the enrollment
// token returns the certificate, which must certify that key for clientAuth under the fleet
// CA. Exactly what `fogkeepd enroll` does, minus the files.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/tls.h"
#include "crypto/x509.h"
#include "fleetsim/https.h"
#include "fleetsim/options.h"
#include "fleetsim/stats.h"

namespace fogkeep::fleetsim {

struct NodeIdentity {
  std::string device_id;  // the common name the director put in the certificate
  crypto::TlsIdentity tls;
};

// Enrolls `options.nodes` nodes, `options.enroll_concurrency` at a time, running `io` on
// `options.threads` threads until done. Transient failures (transport, 5xx) are retried up to
// three times per node with a new token; a refusal (the API token is not accepted, a 4xx) ends
// everything at once with a one-line error that says what was refused. Counts each enrolled
// node in `stats`.
Result<std::vector<NodeIdentity>> EnrollFleet(asio::io_context& io, const DirectorEndpoint& where,
                                              TlsClient& tls, const crypto::Certificate& ca,
                                              const SimOptions& options, FleetStats& stats);

// The identities file: a JSON array of {"device_id", "key" (PKCS#8 PEM), "chain" (PEM)},
// written atomically with mode 0600 (it holds private keys).
Status SaveIdentities(const std::string& path, const std::vector<NodeIdentity>& identities);
// The first `count` identities of the file; kInvalidInput when it holds fewer or is malformed.
Result<std::vector<NodeIdentity>> LoadIdentities(const std::string& path, std::size_t count);

}  // namespace fogkeep::fleetsim
