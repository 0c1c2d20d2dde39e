// Driver of bench/radius_login.sh: COUNT sequential PAP logins of one user through
// RadiusClient against one server, each of which must be accepted. Prints the elapsed
// milliseconds of the logins (setup excluded) and exits non-zero on the first failure.
//
//   fogkeep-bench-radius HOST PORT SECRET_FILE USER PASSWORD COUNT
#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "auth/radius_client.h"

namespace {

bool ParseNumber(std::string_view text, unsigned long* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0;
  unsigned long count = 0;
  if (argc != 7 || !ParseNumber(argv[2], &port) || port == 0 || port > 65535 ||
      !ParseNumber(argv[6], &count)) {
    std::fprintf(stderr, "usage: %s HOST PORT SECRET_FILE USER PASSWORD COUNT\n", argv[0]);
    return 2;
  }
  fogkeep::auth::RadiusClientConfig config;
  config.servers.push_back({argv[1], static_cast<std::uint16_t>(port), argv[3]});
  config.timeout = std::chrono::milliseconds(2000);
  config.retries = 0;
  auto client = fogkeep::auth::RadiusClient::Create(config);
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().message().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  for (unsigned long i = 0; i < count; ++i) {
    auto verdict = client->Authenticate(argv[4], argv[5]);
    if (!verdict || !verdict->accepted) {
      std::fprintf(stderr, "login %lu: %s\n", i,
                   verdict ? "not accepted" : verdict.error().message().c_str());
      return 1;
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf("%lld\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  return 0;
}
