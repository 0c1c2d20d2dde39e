// How commands report: human lines on stdout by default, one JSON document with --json,
// errors as "fogkeep: <message>" on stderr. Commands set the exit code through CommandFailed.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::cli {

// Records a failed command: prints the error and remembers exit code 1.
void ReportError(const Error& error);
// Prints a JSON value (pretty enough for humans, one document for scripts).
void PrintJson(const boost::json::value& value);
int ExitCode();
void SetExitCode(int code);

// "2026-11-25T20:15:00Z"
std::string FormatTime(std::chrono::system_clock::time_point t);
// The same in this machine's time zone, for people: "2026-11-25 21:15:00 CET".
std::string FormatLocalTime(std::chrono::system_clock::time_point t);

}  // namespace fogkeep::cli
