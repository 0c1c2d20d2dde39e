#include "net/http.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>

#include "core/log.h"

namespace fogkeep::net {
namespace {

constexpr std::array<std::pair<Method, std::string_view>, 7> kMethods = {{
    {Method::kGet, "GET"},
    {Method::kHead, "HEAD"},
    {Method::kPost, "POST"},
    {Method::kPut, "PUT"},
    {Method::kPatch, "PATCH"},
    {Method::kDelete, "DELETE"},
    {Method::kOptions, "OPTIONS"},
}};

constexpr std::array<ErrorCode, 9> kErrorCodes = {
    ErrorCode::kInvalidInput, ErrorCode::kUnauthenticated, ErrorCode::kForbidden,
    ErrorCode::kNotFound,     ErrorCode::kConflict,        ErrorCode::kIntegrity,
    ErrorCode::kLimit,        ErrorCode::kUnavailable,     ErrorCode::kInternal,
};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidInput;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 413:
      return ErrorCode::kLimit;
    case 422:
      return ErrorCode::kIntegrity;
    case 429:  // Too Many Requests: a throttled login
      return ErrorCode::kLimit;
    case 503:
      return ErrorCode::kUnavailable;
    default:
      return status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInvalidInput;
  }
}

}  // namespace

std::string_view MethodName(Method method) {
  for (const auto& [m, name] : kMethods) {
    if (m == method) return name;
  }
  return "GET";
}

std::optional<Method> ParseMethod(std::string_view name) {
  for (const auto& [m, n] : kMethods) {
    if (n == name) return m;
  }
  return std::nullopt;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

void Headers::Add(std::string_view name, std::string_view value) {
  fields_.emplace_back(std::string(name), std::string(value));
}

void Headers::Set(std::string_view name, std::string_view value) {
  Remove(name);
  Add(name, value);
}

void Headers::Remove(std::string_view name) {
  std::erase_if(fields_, [&](const Field& f) { return EqualsIgnoreCase(f.first, name); });
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const Field& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return std::string_view(f.second);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view Request::Param(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) return value;
  }
  return {};
}

Response Response::Json(std::string json, int status) {
  Response response;
  response.status = status;
  response.headers.Set("Content-Type", "application/json");
  response.body = std::move(json);
  return response;
}

Response Response::Text(std::string text, int status) {
  Response response;
  response.status = status;
  response.headers.Set("Content-Type", "text/plain; charset=utf-8");
  response.body = std::move(text);
  return response;
}

Response Response::Stream(std::string content_type, StreamProducer producer) {
  Response response;
  response.headers.Set("Content-Type", content_type);
  response.stream = std::move(producer);
  return response;
}

Response Response::Deferred(std::shared_ptr<DeferredResponse> deferred) {
  Response response;
  response.deferred = std::move(deferred);
  return response;
}

bool DeferredResponse::Complete(Result<Response> result) {
  std::lock_guard lock(mu_);
  if (state_ != State::kPending) return false;  // `result` is dropped on the way out
  result_ = std::move(result);
  state_ = State::kCompleted;
  if (wake_) wake_();
  return true;
}

bool DeferredResponse::Cancelled() const {
  std::lock_guard lock(mu_);
  return state_ == State::kCancelled;
}

void DeferredResponse::OnCancel(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kPending) {
      on_cancel_.push_back(std::move(callback));
      return;
    }
    if (state_ != State::kCancelled) return;
  }
  callback();
}

void DeferredResponse::Attach(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
  if (state_ == State::kCompleted) wake_();
}

void DeferredResponse::Detach() {
  std::function<void()> dropped;  // destroyed after the lock is released
  std::lock_guard lock(mu_);
  dropped.swap(wake_);
}

std::optional<Result<Response>> DeferredResponse::Take() {
  std::lock_guard lock(mu_);
  if (state_ != State::kCompleted) return std::nullopt;
  state_ = State::kTaken;
  std::optional<Result<Response>> taken = std::move(result_);
  result_.reset();
  return taken;
}

bool DeferredResponse::Cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kCancelled) return true;
    if (state_ != State::kPending) return false;
    state_ = State::kCancelled;
    callbacks.swap(on_cancel_);
  }
  // Outside the lock: a callback may call back in (Complete, Cancelled).
  for (std::function<void()>& callback : callbacks) callback();
  return true;
}

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kIntegrity:
      return 422;
    case ErrorCode::kLimit:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

Response ErrorResponse(const Error& error) {
  std::string message = error.message();
  if (error.code() == ErrorCode::kInternal) {
    log::Error("internal error answered with 500: {}", message);
    message = "internal error";
  }
  boost::json::object inner;
  inner["code"] = ErrorCodeName(error.code());
  inner["message"] = message;
  boost::json::object outer;
  outer["error"] = std::move(inner);
  return Response::Json(boost::json::serialize(outer), HttpStatus(error.code()));
}

Error ResponseError(const Response& response) {
  ErrorCode code = CodeForStatus(response.status);
  std::string message = "HTTP " + std::to_string(response.status);
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(response.body, ec);
  if (!ec && doc.is_object()) {
    const boost::json::value* error = doc.as_object().if_contains("error");
    if (error != nullptr && error->is_object()) {
      const boost::json::object& fields = error->as_object();
      const boost::json::value* name = fields.if_contains("code");
      const boost::json::value* text = fields.if_contains("message");
      if (name != nullptr && name->is_string()) {
        for (ErrorCode candidate : kErrorCodes) {
          if (ErrorCodeName(candidate) == std::string_view(name->as_string())) code = candidate;
        }
      }
      if (text != nullptr && text->is_string()) message = std::string(text->as_string());
    }
  }
  return Error(code, std::move(message));
}

Result<Target> ParseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "request target must be an absolute path");
  }
  auto parsed = boost::urls::parse_origin_form(target);
  if (parsed.has_error()) {
    return Fail(ErrorCode::kInvalidInput, "malformed request target");
  }
  const boost::urls::url_view& url = *parsed;
  Target out;
  out.path = url.path();
  if (out.path.find('\0') != std::string::npos) {
    return Fail(ErrorCode::kInvalidInput, "request path contains a NUL byte");
  }
  for (std::string segment : url.segments()) {
    if (segment == "." || segment == "..") {
      return Fail(ErrorCode::kInvalidInput, "request path contains a dot segment");
    }
    // An encoded "/" would let one segment smuggle a path ("a%2F..%2Fb") past the checks above.
    if (segment.find('/') != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput, "request path segment contains an encoded '/'");
    }
    out.segments.push_back(std::move(segment));
  }
  for (std::size_t i = 0; i + 1 < out.segments.size(); ++i) {
    if (out.segments[i].empty()) {
      return Fail(ErrorCode::kInvalidInput, "request path contains an empty segment");
    }
  }
  for (const boost::urls::param& param : url.params()) {
    if (param.key.find('\0') != std::string::npos || param.value.find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput, "request query contains a NUL byte");
    }
    out.query.emplace_back(param.key, param.value);
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseForm(std::string_view body) {
  auto parsed = boost::urls::parse_query(body);
  if (parsed.has_error()) return Fail(ErrorCode::kInvalidInput, "malformed form body");
  std::vector<std::pair<std::string, std::string>> out;
  // Decoded with "+" as a space, as HTML forms encode it.
  const boost::urls::encoding_opts form_encoding(/*space_as_plus=*/true);
  for (const boost::urls::param_pct_view& field : *parsed) {
    std::string key = field.key.decode(form_encoding);
    std::string value = field.has_value ? field.value.decode(form_encoding) : std::string();
    if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput, "form body contains a NUL byte");
    }
    if (key.empty() && value.empty()) continue;  // "a=1&&b=2"
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

}  // namespace fogkeep::net
