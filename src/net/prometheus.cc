#include "net/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/log.h"

namespace fogkeep::net {
namespace {

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Label names may not contain ':' and names starting with "__" are reserved.
bool IsLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

[[noreturn]] void Invalid(std::string_view what, std::string_view name) {
  log::Error("prometheus: invalid {} \"{}\" (a bug in the caller)", what, name);
  std::abort();
}

}  // namespace

MetricFamily::MetricFamily(std::string name, std::string type, std::string help)
    : name_(std::move(name)), type_(std::move(type)), help_(std::move(help)) {}

MetricFamily& MetricFamily::Add(const Labels& labels, double value) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!IsLabelName(labels[i].first)) Invalid("label name", labels[i].first);
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[j].first == labels[i].first) Invalid("duplicate label", labels[i].first);
    }
  }
  samples_.emplace_back(labels, value);
  return *this;
}

MetricFamily& Exposition::Counter(std::string_view name, std::string_view help) {
  return AddFamily(name, "counter", help);
}

MetricFamily& Exposition::Gauge(std::string_view name, std::string_view help) {
  return AddFamily(name, "gauge", help);
}

MetricFamily& Exposition::AddFamily(std::string_view name, std::string_view type,
                                    std::string_view help) {
  if (!IsMetricName(name)) Invalid("metric name", name);
  for (const auto& family : families_) {
    if (family->name_ == name) Invalid("duplicate metric name", name);
  }
  families_.push_back(std::unique_ptr<MetricFamily>(
      new MetricFamily(std::string(name), std::string(type), std::string(help))));
  return *families_.back();
}

std::string Exposition::Render() const {
  std::string out;
  for (const auto& family : families_) {
    out += "# HELP " + family->name_ + " " + EscapeHelp(family->help_) + "\n";
    out += "# TYPE " + family->name_ + " " + family->type_ + "\n";
    for (const auto& [labels, value] : family->samples_) {
      out += family->name_;
      if (!labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < labels.size(); ++i) {
          if (i > 0) out += ',';
          out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
        }
        out += '}';
      }
      out += ' ' + FormatMetricValue(value) + '\n';
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace fogkeep::net
