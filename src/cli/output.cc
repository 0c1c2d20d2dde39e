#include "cli/output.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <ctime>
#include <iostream>

namespace fogkeep::cli {
namespace {

int exit_code = 0;

std::string Escape(std::string_view text, bool keep_newlines) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && !(keep_newlines && ch == '\n')) || c == 0x7f) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace

void ReportError(const Error& error) {
  // One line, whatever the message holds (OpenSSL and libarchive texts may span lines), and
  // nothing a node put in its error message reaches the terminal raw.
  std::string line = error.message();
  for (auto& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "fogkeep: " << Printable(line) << "\n";
  exit_code = 1;
}

void ReportUsageError(std::string_view command, std::string_view message) {
  std::cerr << "fogkeep: " << command << ": " << message
            << "\nRun with --help for more information.\n";
  exit_code = 2;
}

void PrintJson(const boost::json::value& value) {
  std::cout << boost::json::serialize(value) << "\n";
}

int ExitCode() { return exit_code; }
void SetExitCode(int code) { exit_code = code; }

std::string Printable(std::string_view text) { return Escape(text, false); }
std::string PrintableLines(std::string_view text) { return Escape(text, true); }

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatUnixTime(std::int64_t seconds) {
  if (seconds == 0) return "-";
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buf[48];
  if (::gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(seconds) + " (Unix time)";
  }
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
