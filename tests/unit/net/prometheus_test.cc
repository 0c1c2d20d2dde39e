#include "net/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fogkeep::net {
namespace {

TEST(PrometheusTest, RendersFamiliesInTextFormat004) {
  Exposition metrics;
  metrics.Counter("fogkeep_http_requests_total", "HTTP requests served.")
      .Add({{"code", "200"}, {"method", "GET"}}, 1027)
      .Add({{"code", "404"}, {"method", "GET"}}, 3);
  metrics.Gauge("fogkeep_apps", "Installed apps.").Add(4);
  EXPECT_EQ(metrics.Render(),
            "# HELP fogkeep_http_requests_total HTTP requests served.\n"
            "# TYPE fogkeep_http_requests_total counter\n"
            "fogkeep_http_requests_total{code=\"200\",method=\"GET\"} 1027\n"
            "fogkeep_http_requests_total{code=\"404\",method=\"GET\"} 3\n"
            "# HELP fogkeep_apps Installed apps.\n"
            "# TYPE fogkeep_apps gauge\n"
            "fogkeep_apps 4\n");
}

TEST(PrometheusTest, EscapesLabelValuesAndHelp) {
  Exposition metrics;
  metrics.Gauge("fogkeep_app_up", "Up (1) or down (0).\nA path: C:\\apps")
      .Add({{"app", "we\"ird\\name\nx"}}, 1);
  EXPECT_EQ(metrics.Render(),
            "# HELP fogkeep_app_up Up (1) or down (0).\\nA path: C:\\\\apps\n"
            "# TYPE fogkeep_app_up gauge\n"
            "fogkeep_app_up{app=\"we\\\"ird\\\\name\\nx\"} 1\n");
}

TEST(PrometheusTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-2.5), "-2.5");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatMetricValue(18446744073709551616.0),
            "18446744073709551616");  // exact, no exponent
}

TEST(PrometheusDeathTest, InvalidNamesAreBugs) {
  EXPECT_DEATH(Exposition().Gauge("1bad", "x"), "invalid metric name");
  EXPECT_DEATH(Exposition().Gauge("ok", "x").Add({{"__reserved", "v"}}, 1), "invalid label");
  EXPECT_DEATH(Exposition().Gauge("ok", "x").Add({{"a:b", "v"}}, 1), "invalid label");
  EXPECT_DEATH(Exposition().Gauge("ok", "x").Add({{"a", "1"}, {"a", "2"}}, 1), "duplicate");
  EXPECT_DEATH(
      {
        Exposition e;
        e.Gauge("same", "x");
        e.Counter("same", "y");
      },
      "duplicate metric name");
}

}  // namespace
}  // namespace fogkeep::net
