// The node and director APIs' JSON bodies arrive from clients (login and refresh from anyone;
// policy, trust and config from operators; reports from enrolled nodes; deployments from
// app-managers) and their answers arrive at the CLI and at nodes (desired states): each is
// parsed by api::FromJsonText before anything in it is used. Every input is parsed as each wire
// type.
// Invariants beyond "no crash": what parses serialises, parses back, and serialises to the
// same text again (the mapping is stable, so nothing is lost or invented on the way).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/director.h"
#include "api/node.h"

namespace {

using namespace fogkeep;

template <typename T>
void RoundTrip(std::string_view input) {
  Result<T> parsed = api::FromJsonText<T>(input);
  if (!parsed) return;
  const std::string once = api::ToJsonText(*parsed);
  Result<T> again = api::FromJsonText<T>(once);
  if (!again) {
    std::fprintf(stderr, "serialised value does not parse back: %s\n",
                 again.error().message().c_str());
    std::abort();
  }
  if (api::ToJsonText(*again) != once) {
    std::fprintf(stderr, "serialisation is not stable: %s\n", once.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  RoundTrip<api::LoginRequest>(input);
  RoundTrip<api::RefreshRequest>(input);
  RoundTrip<api::LoginResult>(input);
  RoundTrip<api::SessionList>(input);
  RoundTrip<api::WhoAmI>(input);
  RoundTrip<api::AppList>(input);
  RoundTrip<api::App>(input);
  RoundTrip<api::AppMetrics>(input);
  RoundTrip<api::PlatformPolicy>(input);
  RoundTrip<api::TrustMaterial>(input);
  RoundTrip<api::ErrorBody>(input);
  RoundTrip<api::Health>(input);
  RoundTrip<api::EnrollmentTokenRequest>(input);
  RoundTrip<api::EnrollmentTokenList>(input);
  RoundTrip<api::NodeReport>(input);
  RoundTrip<api::DeviceList>(input);
  RoundTrip<api::DeviceUpdate>(input);
  RoundTrip<api::CatalogList>(input);
  RoundTrip<api::FleetPolicyDoc>(input);
  RoundTrip<api::DeploymentRequest>(input);
  RoundTrip<api::DeploymentList>(input);
  RoundTrip<api::DesiredState>(input);
  RoundTrip<api::OAuthClientList>(input);
  RoundTrip<api::AppOAuthClientRequest>(input);
  RoundTrip<api::AppOAuthClient>(input);
  return 0;
}
