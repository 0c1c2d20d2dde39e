// Prometheus text exposition format 0.0.4: a small builder for counters and gauges with labels.
//
//   Exposition metrics;
//   metrics.Counter("fogkeep_http_requests_total", "HTTP requests served.")
//       .Add({{"code", "200"}}, 1027)
//       .Add({{"code", "404"}}, 3);
//   metrics.Gauge("fogkeep_apps", "Installed apps by state.").Add({{"state", "RUNNING"}}, 4);
//   Response::Text(metrics.Render()) with Content-Type kPrometheusContentType.
//
// Names are fixed by code, so an invalid metric or label name is a bug and aborts; label values
// and help text come from data and are escaped.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fogkeep::net {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricFamily {
 public:
  // One sample. Labels are written in the order given.
  MetricFamily& Add(const Labels& labels, double value);
  MetricFamily& Add(double value) { return Add({}, value); }

 private:
  friend class Exposition;
  MetricFamily(std::string name, std::string type, std::string help);

  std::string name_;
  std::string type_;
  std::string help_;
  std::vector<std::pair<Labels, double>> samples_;
};

class Exposition {
 public:
  // Starts a family. A counter's name should end in "_total". A name used twice aborts.
  MetricFamily& Counter(std::string_view name, std::string_view help);
  MetricFamily& Gauge(std::string_view name, std::string_view help);

  // "# HELP", "# TYPE" and one line per sample for each family, in the order added.
  std::string Render() const;

 private:
  MetricFamily& AddFamily(std::string_view name, std::string_view type, std::string_view help);
  std::vector<std::unique_ptr<MetricFamily>> families_;
};

// Value formatting of the format: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string FormatMetricValue(double value);
// Escaping of label values (backslash, double quote, newline) and of help text (backslash,
// newline).
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);

}  // namespace fogkeep::net
