// Reading a secret (a password) from the person at the terminal, or from a pipe for scripts.
//
// Used by `fogkeep login` and by `fogkeepd user add`; both offer --password-stdin, and both
// prompt without echo otherwise. The secret never touches argv or the environment, where
// other users could read it in /proc.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep {

// The longest secret accepted, in bytes (without the line end).
inline constexpr std::size_t kMaxSecretBytes = 4096;

// Reads one secret from standard input.
//
// When stdin is a terminal: writes `prompt` to the controlling terminal (/dev/tty, else
// stderr), turns echo off, reads one line and restores the terminal's settings on every path,
// also when SIGINT, SIGTERM, SIGQUIT or SIGHUP arrives meanwhile (the signal is then re-raised
// with its default action). With `confirm`, asks a second time ("Repeat: ") and fails with
// kInvalidInput "the two entries differ" unless both match.
//
// Otherwise (a pipe or a file): reads one line without any prompt; `confirm` is ignored. A
// final "\n" or "\r\n" is stripped; a last line without one is taken as it is. Only the first
// line is consumed, byte by byte, so whatever follows stays readable on stdin.
//
// Errors: kInvalidInput for an empty line or end of input before any byte; kLimit for a line
// longer than kMaxSecretBytes; kUnavailable when stdin or the terminal cannot be read or set.
Result<std::string> ReadSecret(std::string_view prompt, bool confirm = false);

}  // namespace fogkeep
