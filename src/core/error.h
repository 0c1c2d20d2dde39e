// Error and Result<T>: the one way fogkeep code reports failure.
//
// Functions that can fail return Result<T> (std::expected<T, Error>). An Error has a category
// that the API edge maps to a status code, and a message written for the person who reads it
// ("package.sig does not verify against package.cert"). Context is added on the way up with
// Error::With ("install app.tar: package.sig does not verify ...").
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace fogkeep {

enum class ErrorCode {
  kInvalidInput,     // malformed or hostile input from outside; the caller can fix it
  kUnauthenticated,  // who you are is unknown or unproven
  kForbidden,        // known, but not allowed
  kNotFound,
  kConflict,     // the request clashes with current state (illegal transition, duplicate)
  kIntegrity,    // bytes that do not match their hash or signature; trust failures
  kLimit,        // a size, count or rate limit was exceeded
  kUnavailable,  // a dependency (file system, peer, runtime) failed; retrying may help
  kInternal,     // a bug or an impossible state in fogkeep itself
};

std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns the error with "context: " prepended to its message.
  Error With(std::string_view context) const& {
    return Error(code_, std::string(context) + ": " + message_);
  }
  Error With(std::string_view context) && {
    message_.insert(0, std::string(context) + ": ");
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = Result<void>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> Fail(Error error) { return std::unexpected<Error>(std::move(error)); }

// Message for errno-based failures: "what: strerror(errno)".
std::string ErrnoMessage(std::string_view what, int err);
// Fail with kUnavailable (or kNotFound for ENOENT) from an errno value.
std::unexpected<Error> FailErrno(std::string_view what, int err);

}  // namespace fogkeep

// FK_TRY(expr): evaluates a Result; on failure returns its error from the enclosing function,
// otherwise yields the value. FK_TRY_CTX adds context to the error on the way up.
#define FK_TRY(expr)                                                                \
  ({                                                                                \
    auto&& fk_try_result_ = (expr);                                                 \
    if (!fk_try_result_) return std::unexpected(std::move(fk_try_result_).error()); \
    std::move(fk_try_result_).value();                                              \
  })
#define FK_TRY_CTX(expr, context)                                                                 \
  ({                                                                                              \
    auto&& fk_try_result_ = (expr);                                                               \
    if (!fk_try_result_) return std::unexpected(std::move(fk_try_result_).error().With(context)); \
    std::move(fk_try_result_).value();                                                            \
  })
