#include "net/router.h"

#include <algorithm>

namespace fogkeep::net {
namespace {

bool IsParamName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

}  // namespace

Status Router::Add(Method method, std::string_view pattern, RouteOptions options, Handler handler) {
  const std::string where = std::string(MethodName(method)) + " " + std::string(pattern);
  if (pattern.empty() || pattern.front() != '/') {
    return Fail(ErrorCode::kInvalidInput, "route " + where + ": pattern must start with '/'");
  }
  if (!options.is_public && options.permission.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "route " + where + ": a non-public route must declare a permission");
  }
  if (!handler) return Fail(ErrorCode::kInvalidInput, "route " + where + ": no handler");

  Entry entry;
  std::string_view rest = pattern.substr(1);
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view text = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (slash != std::string_view::npos && rest.empty()) {
      return Fail(ErrorCode::kInvalidInput, "route " + where + ": trailing '/'");
    }
    if (text.empty()) {
      return Fail(ErrorCode::kInvalidInput, "route " + where + ": empty segment");
    }
    if (!entry.segments.empty() && entry.segments.back().kind == Segment::Kind::kTail) {
      return Fail(ErrorCode::kInvalidInput,
                  "route " + where + ": a tail parameter must be the last segment");
    }
    if (text.front() == '{') {
      if (text.back() != '}') {
        return Fail(ErrorCode::kInvalidInput, "route " + where + ": unclosed parameter");
      }
      std::string_view name = text.substr(1, text.size() - 2);
      Segment::Kind kind = Segment::Kind::kParam;
      if (name.ends_with("...")) {
        name.remove_suffix(3);
        kind = Segment::Kind::kTail;
      }
      if (!IsParamName(name)) {
        return Fail(ErrorCode::kInvalidInput, "route " + where + ": bad parameter name");
      }
      for (const Segment& s : entry.segments) {
        if (s.kind != Segment::Kind::kLiteral && s.text == name) {
          return Fail(ErrorCode::kInvalidInput,
                      "route " + where + ": parameter " + std::string(name) + " appears twice");
        }
      }
      entry.segments.push_back({kind, std::string(name)});
    } else {
      if (text.find_first_of("{}") != std::string_view::npos) {
        return Fail(ErrorCode::kInvalidInput, "route " + where + ": stray brace");
      }
      entry.segments.push_back({Segment::Kind::kLiteral, std::string(text)});
    }
  }

  for (const Entry& existing : entries_) {
    if (existing.route->method != method || existing.segments.size() != entry.segments.size()) {
      continue;
    }
    const bool same_shape = std::equal(
        existing.segments.begin(), existing.segments.end(), entry.segments.begin(),
        [](const Segment& a, const Segment& b) {
          return a.kind == b.kind && (a.kind != Segment::Kind::kLiteral || a.text == b.text);
        });
    if (same_shape) {
      return Fail(ErrorCode::kConflict,
                  "route " + where + " clashes with " + existing.route->pattern);
    }
  }

  entry.route = std::make_unique<Route>(
      Route{method, std::string(pattern), std::move(options), std::move(handler)});
  entries_.push_back(std::move(entry));
  return {};
}

bool Router::Matches(const Entry& entry, const std::vector<std::string>& segments,
                     std::vector<std::pair<std::string, std::string>>* params) {
  params->clear();
  std::size_t i = 0;
  for (const Segment& s : entry.segments) {
    if (s.kind == Segment::Kind::kTail) {
      if (i >= segments.size()) return false;
      std::string joined;
      for (std::size_t j = i; j < segments.size(); ++j) {
        if (segments[j].empty()) return false;
        if (j > i) joined += '/';
        joined += segments[j];
      }
      params->emplace_back(s.text, std::move(joined));
      return true;
    }
    if (i >= segments.size()) return false;
    const std::string& actual = segments[i];
    if (s.kind == Segment::Kind::kLiteral) {
      if (actual != s.text) return false;
    } else {
      if (actual.empty()) return false;
      params->emplace_back(s.text, actual);
    }
    ++i;
  }
  return i == segments.size();
}

int Router::CompareSpecificity(const Entry& a, const Entry& b) {
  const std::size_t n = std::min(a.segments.size(), b.segments.size());
  for (std::size_t i = 0; i < n; ++i) {
    const int ka = static_cast<int>(a.segments[i].kind);
    const int kb = static_cast<int>(b.segments[i].kind);
    if (ka != kb) return ka - kb;
  }
  return 0;
}

Router::Match Router::Find(Method method, const std::vector<std::string>& segments) const {
  Match match;
  const Entry* best = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  for (const Entry& entry : entries_) {
    if (!Matches(entry, segments, &params)) continue;
    if (entry.route->method != method) {
      if (std::find(match.allowed.begin(), match.allowed.end(), entry.route->method) ==
          match.allowed.end()) {
        match.allowed.push_back(entry.route->method);
      }
      continue;
    }
    if (best == nullptr || CompareSpecificity(entry, *best) < 0) {
      best = &entry;
      match.params = params;
    }
  }
  if (best != nullptr) {
    match.route = best->route.get();
    match.allowed.clear();
  } else {
    std::sort(match.allowed.begin(), match.allowed.end());
  }
  return match;
}

std::vector<const Route*> Router::routes() const {
  std::vector<const Route*> out;
  out.reserve(entries_.size());
  for (const Entry& entry : entries_) out.push_back(entry.route.get());
  return out;
}

std::string Router::AllowHeader(const std::vector<Method>& methods) {
  std::string out;
  for (Method m : methods) {
    if (!out.empty()) out += ", ";
    out += MethodName(m);
  }
  return out;
}

bool IsStateChanging(Method method) {
  return method == Method::kPost || method == Method::kPut || method == Method::kPatch ||
         method == Method::kDelete;
}

bool IsAudited(Method method, const RouteOptions& route) {
  return IsStateChanging(method) ? route.audit_changes : route.audit_reads;
}

}  // namespace fogkeep::net
