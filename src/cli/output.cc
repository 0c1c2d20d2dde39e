#include "cli/output.h"

#include <boost/json/serialize.hpp>
#include <ctime>
#include <iostream>

namespace fogkeep::cli {
namespace {
int exit_code = 0;
}

void ReportError(const Error& error) {
  // One line, whatever the message holds (OpenSSL and libarchive texts may span lines).
  std::string line = error.message();
  for (auto& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "fogkeep: " << line << "\n";
  exit_code = 1;
}

void PrintJson(const boost::json::value& value) {
  std::cout << boost::json::serialize(value) << "\n";
}

int ExitCode() { return exit_code; }
void SetExitCode(int code) { exit_code = code; }

std::string FormatTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatLocalTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

}  // namespace fogkeep::cli
