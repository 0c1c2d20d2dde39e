#include "sensor/config.h"

#include <arpa/inet.h>

#include <charconv>
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include <fmt/format.h>

#include "core/duration.h"
#include "core/yaml.h"

namespace fogkeep::sensor {
namespace {

using Fields = std::map<std::string, std::function<Status(const yaml::Node&, const std::string&)>,
                        std::less<>>;

Status Invalid(const std::string& path, std::string_view message) {
  return Fail(ErrorCode::kInvalidInput, path + ": " + std::string(message));
}

// Walks a map, refusing keys without a field.
Status Walk(const yaml::Node& node, const std::string& path, const Fields& fields) {
  if (node.IsNull()) return {};
  if (!node.IsMap()) return Invalid(path.empty() ? "config" : path, "must be a map");
  for (const auto& [key, value] : node.entries()) {
    const std::string child = path.empty() ? key : path + "." + key;
    auto field = fields.find(key);
    if (field == fields.end()) {
      std::string known;
      for (const auto& [name, _] : fields) known += (known.empty() ? "" : ", ") + name;
      return Invalid(child, "unknown key (known: " + known + ")");
    }
    FK_TRY(field->second(value, child));
  }
  return {};
}

auto Bool(bool& out) {
  return [&out](const yaml::Node& node, const std::string& path) -> Status {
    if (node.IsScalar() && node.scalar() == "true") {
      out = true;
    } else if (node.IsScalar() && node.scalar() == "false") {
      out = false;
    } else {
      return Invalid(path, "must be true or false");
    }
    return {};
  };
}

template <typename T>
auto Count(T& out, std::uint64_t min, std::uint64_t max) {
  return [&out, min, max](const yaml::Node& node, const std::string& path) -> Status {
    std::uint64_t value = 0;
    const std::string& text = node.IsScalar() ? node.scalar() : std::string();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
      return Invalid(path, "must be a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max));
    }
    out = static_cast<T>(value);
    return {};
  };
}

auto Seconds(std::uint64_t& out_us, std::chrono::seconds min, std::chrono::seconds max) {
  return [&out_us, min, max](const yaml::Node& node, const std::string& path) -> Status {
    if (!node.IsScalar()) return Invalid(path, "must be a duration such as 30s, 5m or 1h");
    auto parsed = ParseDuration(node.scalar());
    if (!parsed) return Invalid(path, parsed.error().message());
    if (*parsed < min || *parsed > max) {
      return Invalid(path, "must be from " + FormatDuration(min) + " to " + FormatDuration(max));
    }
    out_us = static_cast<std::uint64_t>(parsed->count()) * 1'000'000;
    return {};
  };
}

auto Ratio(double& out, double min, double max) {
  return [&out, min, max](const yaml::Node& node, const std::string& path) -> Status {
    const std::string& text = node.IsScalar() ? node.scalar() : std::string();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
      return Invalid(path, fmt::format("must be a number from {} to {}", min, max));
    }
    out = value;
    return {};
  };
}

auto Section(Fields fields) {
  return [fields = std::move(fields)](const yaml::Node& node, const std::string& path) {
    return Walk(node, path, fields);
  };
}

constexpr std::uint64_t kMaxCount = 1'000'000;
constexpr auto kSecond = std::chrono::seconds(1);
constexpr auto kDay = std::chrono::hours(24);

}  // namespace

Result<Cidr> ParseCidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  Cidr cidr;
  int max_prefix = 128;
  std::array<std::uint8_t, 16> v6{};
  std::array<std::uint8_t, 4> v4{};
  if (inet_pton(AF_INET, address.c_str(), v4.data()) == 1) {
    cidr.network = IpAddress::V4(std::span<const std::uint8_t, 4>(v4));
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), v6.data()) == 1) {
    cidr.network = IpAddress::V6(std::span<const std::uint8_t, 16>(v6));
  } else {
    return Fail(ErrorCode::kInvalidInput,
                "\"" + std::string(text) + "\" is not an IP address or address/prefix");
  }
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 ||
        prefix > max_prefix) {
      return Fail(
          ErrorCode::kInvalidInput,
          "\"" + std::string(text) + "\": the prefix must be 0 to " + std::to_string(max_prefix));
    }
  }
  cidr.prefix_length = prefix + (max_prefix == 32 ? 96 : 0);
  return cidr;
}

Result<SensorOptions> ParseSensorConfig(std::string_view yaml_text) {
  const yaml::Node root = FK_TRY(yaml::Parse(yaml_text));
  SensorOptions o;
  FlowTableOptions& f = o.flows;
  ReassemblyLimits& r = o.reassembly;
  DetectorConfig& d = o.detectors;
  auto writers = [&d](const yaml::Node& node, const std::string& path) -> Status {
    if (!node.IsSequence()) return Invalid(path, "must be a list of addresses or address/prefix");
    for (const yaml::Node& item : node.items()) {
      if (!item.IsScalar()) return Invalid(path, "must be a list of addresses or address/prefix");
      auto cidr = ParseCidr(item.scalar());
      if (!cidr) return Invalid(path, cidr.error().message());
      d.modbus_write.allowed_writers.push_back(*cidr);
    }
    return {};
  };
  const Fields fields{
      {"flows", Section({{"max-flows", Count(f.max_flows, 16, 16'000'000)},
                         {"idle-timeout", Seconds(f.idle_timeout_us, kSecond, kDay)},
                         {"active-timeout", Seconds(f.active_timeout_us, kSecond, kDay)},
                         {"closed-linger", Seconds(f.closed_linger_us, kSecond, kDay)}})},
      {"reassembly",
       Section({{"max-datagrams", Count(r.max_datagrams, 1, 65'536)},
                {"timeout", Seconds(r.timeout_us, kSecond, std::chrono::minutes(5))}})},
      {"alerts", Section({{"cooldown", Seconds(d.cooldown_us, std::chrono::seconds(0), kDay)},
                          {"max-tracked", Count(d.max_tracked, 16, 16'000'000)}})},
      {"detectors",
       Section({
           {"port-scan", Section({{"enabled", Bool(d.port_scan.enabled)},
                                  {"ports", Count(d.port_scan.ports, 2, 65'536)},
                                  {"window", Seconds(d.port_scan.window_us, kSecond, kDay)}})},
           {"host-sweep", Section({{"enabled", Bool(d.host_sweep.enabled)},
                                   {"hosts", Count(d.host_sweep.hosts, 2, kMaxCount)},
                                   {"window", Seconds(d.host_sweep.window_us, kSecond, kDay)}})},
           {"syn-flood", Section({{"enabled", Bool(d.syn_flood.enabled)},
                                  {"half-open", Count(d.syn_flood.half_open, 2, kMaxCount)}})},
           {"baseline",
            Section({{"enabled", Bool(d.baseline.enabled)},
                     {"learning", Seconds(d.baseline.learning_us, std::chrono::seconds(0),
                                          std::chrono::days(365))}})},
           {"modbus-write",
            Section({{"enabled", Bool(d.modbus_write.enabled)}, {"allowed-writers", writers}})},
           {"modbus-exceptions",
            Section({{"enabled", Bool(d.modbus_exceptions.enabled)},
                     {"count", Count(d.modbus_exceptions.count, 1, kMaxCount)},
                     {"window", Seconds(d.modbus_exceptions.window_us, kSecond, kDay)}})},
           {"dns", Section({{"enabled", Bool(d.dns.enabled)},
                            {"max-label", Count(d.dns.max_label, 1, 63)},
                            {"entropy", Ratio(d.dns.entropy, 0.0, 8.0)},
                            {"entropy-min-length", Count(d.dns.entropy_min_length, 1, 255)},
                            {"nxdomain", Count(d.dns.nxdomain, 1, kMaxCount)},
                            {"window", Seconds(d.dns.window_us, kSecond, kDay)}})},
           {"arp-spoof", Section({{"enabled", Bool(d.arp_spoof.enabled)}})},
       })},
  };
  FK_TRY(Walk(root, "", fields));
  return o;
}

}  // namespace fogkeep::sensor
