// Driver of bench/local_login.sh: COUNT sequential logins of one local user, each of which
// must succeed, at the given argon2id cost. Prints the wall-clock and the CPU milliseconds
// (of the whole process, as clock(3) counts them) of the logins, opening the store, its dummy
// hash and adding the user excluded, and exits non-zero on the first failure.
//
//   fogkeep-bench-local-login DIR MODE COUNT MEMORY_KIB PASSES LANES
//     MODE check: LocalUserStore::Authenticate (the password check alone)
//     MODE login: LoginService::Login (throttle, check, and a session committed to SQLite
//                 in DIR)
//   fogkeep-bench-local-login --defaults   prints the default cost: "MEMORY_KIB PASSES LANES"
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "auth/local_users.h"
#include "auth/login.h"

namespace {

bool ParseNumber(std::string_view text, unsigned long* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

int Die(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fogkeep::auth;
  if (argc == 2 && std::string_view(argv[1]) == "--defaults") {
    Argon2Params d;
    std::printf("%u %u %u\n", d.memory_kib, d.passes, d.lanes);
    return 0;
  }
  unsigned long count = 0, memory = 0, passes = 0, lanes = 0;
  const std::string_view mode = argc == 7 ? argv[2] : "";
  if (argc != 7 || (mode != "check" && mode != "login") || !ParseNumber(argv[3], &count) ||
      !ParseNumber(argv[4], &memory) || !ParseNumber(argv[5], &passes) ||
      !ParseNumber(argv[6], &lanes)) {
    std::fprintf(stderr, "usage: %s DIR check|login COUNT MEMORY_KIB PASSES LANES\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  LocalUserOptions options;
  options.argon2 = {.memory_kib = static_cast<std::uint32_t>(memory),
                    .passes = static_cast<std::uint32_t>(passes),
                    .lanes = static_cast<std::uint32_t>(lanes)};
  auto store = LocalUserStore::Open(dir + "/users", options);
  if (!store) return Die(store.error().message());
  std::shared_ptr<LocalUserStore> users = std::move(*store);
  const std::string password = "benchmark password 1";
  if (auto added = users->Add("bench", "admin", password); !added) {
    return Die(added.error().message());
  }
  auto chain = AuthChain::Create({{"local", users}});
  auto throttle = LoginThrottle::Create();
  auto sessions = SessionStore::Open(dir + "/sessions.db");
  if (!chain || !throttle || !sessions) return Die("cannot set up the login service");
  LoginService service(std::move(*chain), std::move(*throttle), std::move(*sessions));

  const std::clock_t cpu_start = std::clock();
  auto start = std::chrono::steady_clock::now();
  for (unsigned long i = 0; i < count; ++i) {
    if (mode == "check") {
      auto outcome = users->Authenticate("bench", password, "127.0.0.1");
      if (!outcome || !outcome->accepted) {
        return Die("check " + std::to_string(i) + ": " +
                   (outcome ? outcome->reason : outcome.error().message()));
      }
    } else {
      auto tokens = service.Login("bench", password, "127.0.0.1");
      if (!tokens) return Die("login " + std::to_string(i) + ": " + tokens.error().message());
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf("%.1f %.1f\n", std::chrono::duration<double, std::milli>(elapsed).count(), cpu_ms);
  return 0;
}
