#include "core/error.h"

#include <cerrno>
#include <cstring>

namespace fogkeep {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput:
      return "invalid_input";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kIntegrity:
      return "integrity";
    case ErrorCode::kLimit:
      return "limit";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

std::string ErrnoMessage(std::string_view what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

std::unexpected<Error> FailErrno(std::string_view what, int err) {
  return Fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
              ErrnoMessage(what, err));
}

}  // namespace fogkeep
