#include "api/alert.h"

#include <arpa/inet.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <limits>

#include "api/node.h"
#include "api/object_reader.h"

namespace fogkeep::api {
namespace {

namespace json = boost::json;
using detail::ObjectReader;
using detail::Objects;

constexpr std::size_t kMaxSignatureBytes = 256;
constexpr std::size_t kMaxTimestampBytes = 64;
constexpr std::size_t kMaxCategoryBytes = 64;
constexpr std::size_t kMaxProtoBytes = 16;
constexpr std::size_t kMaxVlans = 3;

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidInput, std::move(message));
}

// Text a terminal or a log may show: no C0 controls and no DEL. (Boost.JSON has already refused
// invalid UTF-8; "\u0000" would decode to a NUL, refused here.)
bool Printable(std::string_view text) {
  return std::ranges::none_of(text, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool Digit(char c) { return c >= '0' && c <= '9'; }

// "YYYY-MM-DDTHH:MM:SS" first (a space may stand for the T), then anything printable: a
// fraction and an offset in whichever spelling the sensor uses.
bool LooksLikeTimestamp(std::string_view text) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (text.size() < kShape.size() || text.size() > kMaxTimestampBytes || !Printable(text)) {
    return false;
  }
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const char want = kShape[i];
    const char got = text[i];
    if (want == 'd' && !Digit(got)) return false;
    if (want == 'T' && got != 'T' && got != ' ') return false;
    if (want != 'd' && want != 'T' && got != want) return false;
  }
  return true;
}

// An optional string member: kInvalidInput unless a string of 1..max printable bytes.
Status OptionalText(const json::object& o, std::string_view key, std::string_view where,
                    std::size_t max, std::string* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  const std::string name = std::string(where) + std::string(key);
  if (!v->is_string()) return Invalid(name + " must be a string");
  const json::string& s = v->get_string();
  if (s.empty() || s.size() > max || !Printable(s)) {
    return Invalid(name + " must be 1 to " + std::to_string(max) +
                   " bytes without control characters");
  }
  *out = std::string(s);
  return {};
}

// An optional integer member in [low, high].
Status OptionalInteger(const json::object& o, std::string_view key, std::string_view where,
                       std::int64_t low, std::int64_t high, int* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  const std::string message = std::string(where) + std::string(key) + " must be an integer from " +
                              std::to_string(low) + " to " + std::to_string(high);
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(high)) {
    n = static_cast<std::int64_t>(v->get_uint64());
  } else {
    return Invalid(message);
  }
  if (n < low || n > high) return Invalid(message);
  *out = static_cast<int>(n);
  return {};
}

Status OptionalIp(const json::object& o, std::string_view key, std::string* out) {
  FK_TRY(OptionalText(o, key, "", 64, out));
  if (out->empty()) return {};
  unsigned char buf[16];
  if (::inet_pton(AF_INET, out->c_str(), buf) != 1 &&
      ::inet_pton(AF_INET6, out->c_str(), buf) != 1) {
    return Invalid(std::string(key) + " must be an IPv4 or IPv6 address");
  }
  return {};
}

Result<Alert> Check(const json::value& value) {
  const json::object* o = value.if_object();
  if (o == nullptr) return Invalid("an alert must be a JSON object");
  Alert a;
  const json::value* type = o->if_contains("event_type");
  if (type == nullptr || !type->is_string() || type->get_string() != "alert") {
    return Invalid("event_type must be \"alert\"");
  }
  const json::value* timestamp = o->if_contains("timestamp");
  if (timestamp == nullptr || !timestamp->is_string() ||
      !LooksLikeTimestamp(timestamp->get_string())) {
    return Invalid("timestamp must be a string starting YYYY-MM-DDTHH:MM:SS");
  }
  a.timestamp = std::string(timestamp->get_string());

  const json::value* alert = o->if_contains("alert");
  if (alert == nullptr || !alert->is_object()) return Invalid("alert must be an object");
  const json::object& inner = alert->get_object();
  const json::value* detector = inner.if_contains("detector");
  if (detector == nullptr || !detector->is_string()) {
    return Invalid("alert.detector must be a string");
  }
  FK_TRY(CheckDetector(detector->get_string()));
  a.detector = std::string(detector->get_string());
  if (inner.if_contains("severity") == nullptr) {
    return Invalid("alert.severity is required: 1 (high), 2 (medium) or 3 (low)");
  }
  FK_TRY(OptionalInteger(inner, "severity", "alert.", 1, 3, &a.severity));
  if (inner.if_contains("signature") == nullptr) return Invalid("alert.signature is required");
  FK_TRY(OptionalText(inner, "signature", "alert.", kMaxSignatureBytes, &a.signature));
  if (a.signature.empty()) return Invalid("alert.signature is required");
  FK_TRY(OptionalText(inner, "category", "alert.", kMaxCategoryBytes, &a.category));

  FK_TRY(OptionalIp(*o, "src_ip", &a.src_ip));
  FK_TRY(OptionalIp(*o, "dest_ip", &a.dest_ip));
  FK_TRY(OptionalInteger(*o, "src_port", "", 0, 65535, &a.src_port));
  FK_TRY(OptionalInteger(*o, "dest_port", "", 0, 65535, &a.dest_port));
  FK_TRY(OptionalText(*o, "proto", "", kMaxProtoBytes, &a.proto));
  if (const json::value* vlan = o->if_contains("vlan"); vlan != nullptr && !vlan->is_null()) {
    const std::string message =
        "vlan must be an array of up to " + std::to_string(kMaxVlans) + " ids from 0 to 4095";
    if (!vlan->is_array() || vlan->get_array().size() > kMaxVlans) return Invalid(message);
    for (const json::value& id : vlan->get_array()) {
      const bool ok = (id.is_int64() && id.get_int64() >= 0 && id.get_int64() <= 4095) ||
                      (id.is_uint64() && id.get_uint64() <= 4095);
      if (!ok) return Invalid(message);
    }
  }
  if (const json::value* details = o->if_contains("details");
      details != nullptr && !details->is_null() && !details->is_object()) {
    return Invalid("details must be an object");
  }
  a.json = Serialize(value);
  if (a.json.size() > kMaxAlertBytes) {
    return Fail(ErrorCode::kLimit,
                "an alert must be at most " + std::to_string(kMaxAlertBytes) + " bytes as JSON");
  }
  return a;
}

}  // namespace

Result<Alert> ParseAlert(const json::value& value) { return Check(value); }

Result<Alert> ParseAlertText(std::string_view text) {
  // Serializing never shrinks an alert by more than its whitespace; a text four times the
  // limit cannot be one.
  return Check(FK_TRY(ParseJson(text, 4 * kMaxAlertBytes)));
}

Result<std::vector<Alert>> ParseAlertBatch(std::string_view body) {
  const json::value value = FK_TRY(ParseJson(body, kMaxAlertBodyBytes));
  const json::object* o = value.if_object();
  if (o == nullptr) {
    return Invalid("the body must be one alert object or {\"alerts\": [...]}");
  }
  std::vector<Alert> out;
  const json::value* list = o->if_contains("alerts");
  if (list == nullptr || o->contains("event_type")) {
    out.push_back(FK_TRY(Check(value)));
    return out;
  }
  if (!list->is_array() || list->get_array().empty() || list->get_array().size() > kMaxAlertBatch) {
    return Invalid("alerts must be an array of 1 to " + std::to_string(kMaxAlertBatch) + " alerts");
  }
  out.reserve(list->get_array().size());
  for (std::size_t i = 0; i < list->get_array().size(); ++i) {
    Result<Alert> alert = Check(list->get_array()[i]);
    if (!alert) return Fail(std::move(alert).error().With("alerts[" + std::to_string(i) + "]"));
    out.push_back(std::move(*alert));
  }
  return out;
}

Status CheckAlertSource(std::string_view source) {
  if (source != kHostAlertSource && !IsAppId(source)) {
    return Invalid("an alert's source must be \"host\" or an app id");
  }
  return {};
}

Status CheckDetector(std::string_view detector) {
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || Digit(c) || c == '-'; };
  if (detector.empty() || detector.size() > 64 || !std::ranges::all_of(detector, ok)) {
    return Invalid("alert.detector must be 1 to 64 characters of a-z, 0-9 and -");
  }
  return {};
}

Result<std::int64_t> ParseAlertQueryNumber(std::string_view name, std::string_view text,
                                           std::int64_t low, std::int64_t high) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || !Digit(text.front()) || ec != std::errc() ||
      end != text.data() + text.size() || value < low || value > high) {
    return Invalid(std::string(name) + " must be a whole number from " + std::to_string(low) +
                   " to " + std::to_string(high));
  }
  return value;
}

std::string_view SeverityName(int severity) {
  switch (severity) {
    case 1:
      return "high";
    case 2:
      return "medium";
    case 3:
      return "low";
  }
  return "?";
}

json::value ToJson(const AlertRecord& v) {
  json::object o;
  if (v.id != 0) o["id"] = v.id;
  if (!v.device.empty()) o["device"] = v.device;
  o["seq"] = v.seq;
  o["received_at"] = v.received_at;
  o["source"] = v.source;
  // Stored alerts were validated when they arrived; one that no longer parses is shown as null
  // rather than failing the whole answer.
  Result<json::value> alert = ParseJson(v.alert_json);
  o["alert"] = alert ? std::move(*alert) : json::value(nullptr);
  return o;
}

json::value ToJson(const AlertDrops& v) {
  return json::object{{"source", v.source}, {"rate_limited", v.rate_limited}, {"pruned", v.pruned}};
}

json::value ToJson(const AlertList& v) {
  json::object o{{"alerts", Objects(v.alerts)}, {"next", v.next}};
  if (!v.dropped.empty()) o["dropped"] = Objects(v.dropped);
  return o;
}

json::value ToJson(const AlertsAccepted& v) {
  return json::object{{"accepted", v.accepted}, {"last_seq", v.last_seq}};
}

Status FromJson(const json::value& j, AlertRecord* out) {
  ObjectReader r(j, "alert record");
  r.Integer("id", &out->id);
  r.String("device", &out->device);
  r.Integer("seq", &out->seq);
  r.Integer("received_at", &out->received_at);
  r.String("source", &out->source);
  FK_TRY(r.status());
  const json::value* alert = r.Member("alert");
  if (alert == nullptr || !alert->is_object()) {
    return Invalid("alert record.alert must be an object");
  }
  out->alert_json = Serialize(*alert);
  return {};
}

Status FromJson(const json::value& j, AlertDrops* out) {
  ObjectReader r(j, "alert drops");
  r.String("source", &out->source);
  r.Integer("rate_limited", &out->rate_limited);
  r.Integer("pruned", &out->pruned);
  return r.status();
}

Status FromJson(const json::value& j, AlertList* out) {
  ObjectReader r(j, "alert list");
  r.Objects("alerts", &out->alerts);
  r.Integer("next", &out->next);
  r.Objects("dropped", &out->dropped);
  return r.status();
}

Status FromJson(const json::value& j, AlertsAccepted* out) {
  ObjectReader r(j, "alerts accepted");
  r.Integer("accepted", &out->accepted);
  r.Integer("last_seq", &out->last_seq);
  return r.status();
}

}  // namespace fogkeep::api
