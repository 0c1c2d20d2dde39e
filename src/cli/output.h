// How commands report: human lines on stdout by default, one JSON document with --json,
// errors as "fogkeep: <message>" on stderr. Commands set the exit code through CommandFailed.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace fogkeep::cli {

// Records a failed command: prints the error on one line, control characters escaped, and
// remembers exit code 1.
void ReportError(const Error& error);
// Records a usage error found after parsing (options that do not fit together): prints
// "fogkeep: <command>: <message>" and CLI11's hint to run with --help, like CLI11's own usage
// errors, and remembers exit code 2.
void ReportUsageError(std::string_view command, std::string_view message);
// Prints a JSON value (pretty enough for humans, one document for scripts).
void PrintJson(const boost::json::value& value);
int ExitCode();
void SetExitCode(int code);

// Text from outside (a node's answer, an audit record) as it may reach a terminal: control
// characters are shown as \xNN, so that such text can never drive the terminal of whoever
// reads it.
std::string Printable(std::string_view text);
// The same, keeping line breaks, for multi-line text such as PEM.
std::string PrintableLines(std::string_view text);
// Prints rows as columns two spaces apart (the first row is usually the header), without
// trailing blanks. Cells are printed as they are: pass text from outside through Printable.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

// "2026-11-25T20:15:00Z"
std::string FormatTime(std::chrono::system_clock::time_point t);
// The same in this machine's time zone, for people: "2026-11-25 21:15:00 CET".
std::string FormatLocalTime(std::chrono::system_clock::time_point t);
// FormatTime of a time a server sent as Unix seconds, whatever its value (no conversion to a
// time_point that could overflow); "-" for 0, which servers send for "never".
std::string FormatUnixTime(std::int64_t seconds);

}  // namespace fogkeep::cli
