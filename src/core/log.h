// Process-wide logging: leveled lines to stderr (spdlog underneath, kept out of this header so
// callers do not pay its compile cost). Messages are formatted by the caller with fmt.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace fogkeep::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

void SetLevel(Level level);
// Parses "debug|info|warn|error|off"; unknown names give std::nullopt semantics via false.
bool ParseLevel(std::string_view name, Level* out);
void Write(Level level, std::string_view message);
// Whether a message of `level` is written at the current level. The functions below check it
// before formatting; a caller whose arguments cost something to build checks it first.
bool Enabled(Level level);

template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (!Enabled(Level::kDebug)) return;
  Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  if (!Enabled(Level::kInfo)) return;
  Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  if (!Enabled(Level::kWarn)) return;
  Write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  if (!Enabled(Level::kError)) return;
  Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace fogkeep::log
