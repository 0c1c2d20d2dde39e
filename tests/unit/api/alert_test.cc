// Alerts as they come from outside (api/alert.h): what a valid one keeps, and the hostile
// bodies each refused with kInvalidInput or kLimit naming what is wrong, never a crash.
#include "api/alert.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include "api/director.h"
#include "api/node.h"

namespace fogkeep::api {
namespace {

namespace json = boost::json;

constexpr std::string_view kModbus =
    R"({"timestamp":"2026-11-26T14:03:07.250113+0000","event_type":"alert","src_ip":"10.9.0.7",)"
    R"("src_port":51515,"dest_ip":"10.9.0.2","dest_port":502,"proto":"TCP","vlan":[10],)"
    R"("alert":{"detector":"modbus-write","signature":"Modbus write from a host not on the )"
    R"(allow-list","category":"ics","severity":1},"details":{"function_code":6,"unit_id":1,)"
    R"("start_address":40,"quantity":1}})";

json::object Modbus() { return json::parse(kModbus).as_object(); }

std::string Text(const json::value& v) { return json::serialize(v); }

// The error of parsing `body` as a batch, which must fail with `code`.
std::string Refusal(std::string_view body, ErrorCode code = ErrorCode::kInvalidInput) {
  auto parsed = ParseAlertBatch(body);
  EXPECT_FALSE(parsed) << body.substr(0, 200);
  if (parsed) return "";
  EXPECT_EQ(parsed.error().code(), code) << parsed.error().message();
  return parsed.error().message();
}

TEST(AlertTest, TheSensorsExampleIsAcceptedWithItsFields) {
  auto alert = ParseAlertText(kModbus);
  ASSERT_TRUE(alert) << alert.error().message();
  EXPECT_EQ(alert->detector, "modbus-write");
  EXPECT_EQ(alert->severity, 1);
  EXPECT_EQ(alert->signature, "Modbus write from a host not on the allow-list");
  EXPECT_EQ(alert->category, "ics");
  EXPECT_EQ(alert->timestamp, "2026-11-26T14:03:07.250113+0000");
  EXPECT_EQ(alert->src_ip, "10.9.0.7");
  EXPECT_EQ(alert->src_port, 51515);
  EXPECT_EQ(alert->dest_ip, "10.9.0.2");
  EXPECT_EQ(alert->dest_port, 502);
  EXPECT_EQ(alert->proto, "TCP");
  // The kept JSON is the object itself, details included.
  EXPECT_EQ(json::parse(alert->json), json::parse(kModbus));
}

TEST(AlertTest, OnlyTheRequiredMembersAreNeeded) {
  auto alert =
      ParseAlertText(R"({"timestamp":"2026-11-26 14:03:07","event_type":"alert",)"
                     R"("alert":{"detector":"port-scan","signature":"scan","severity":3}})");
  ASSERT_TRUE(alert) << alert.error().message();
  EXPECT_EQ(alert->src_port, -1);
  EXPECT_EQ(alert->src_ip, "");
  EXPECT_EQ(alert->severity, 3);
}

TEST(AlertTest, IPv6AddressesAreAccepted) {
  json::object o = Modbus();
  o["src_ip"] = "fe80::1";
  o["dest_ip"] = "2001:db8::2";
  EXPECT_TRUE(ParseAlert(o));
}

TEST(AlertTest, EachMissingOrMistypedMemberIsNamed) {
  struct Case {
    std::string name;
    std::function<void(json::object&)> change;
    std::string expected;  // in the message
  };
  const std::vector<Case> cases = {
      {"no event_type", [](json::object& o) { o.erase("event_type"); }, "event_type"},
      {"another event_type", [](json::object& o) { o["event_type"] = "flow"; }, "event_type"},
      {"no timestamp", [](json::object& o) { o.erase("timestamp"); }, "timestamp"},
      {"numeric timestamp", [](json::object& o) { o["timestamp"] = 1764165787; }, "timestamp"},
      {"garbage timestamp", [](json::object& o) { o["timestamp"] = "yesterday noon"; },
       "timestamp"},
      {"no alert", [](json::object& o) { o.erase("alert"); }, "alert must be an object"},
      {"alert a string", [](json::object& o) { o["alert"] = "bad"; }, "alert must be an object"},
      {"no detector", [](json::object& o) { o["alert"].as_object().erase("detector"); },
       "alert.detector"},
      {"detector a number", [](json::object& o) { o["alert"].as_object()["detector"] = 7; },
       "alert.detector"},
      {"no severity", [](json::object& o) { o["alert"].as_object().erase("severity"); },
       "alert.severity"},
      {"severity 0", [](json::object& o) { o["alert"].as_object()["severity"] = 0; },
       "alert.severity"},
      {"severity 4", [](json::object& o) { o["alert"].as_object()["severity"] = 4; },
       "alert.severity"},
      {"severity 1.0", [](json::object& o) { o["alert"].as_object()["severity"] = 1.0; },
       "alert.severity"},
      {"severity \"1\"", [](json::object& o) { o["alert"].as_object()["severity"] = "1"; },
       "alert.severity"},
      {"severity huge",
       [](json::object& o) {
         o["alert"].as_object()["severity"] = std::uint64_t{18446744073709551615u};
       },
       "alert.severity"},
      {"no signature", [](json::object& o) { o["alert"].as_object().erase("signature"); },
       "alert.signature"},
      {"empty signature", [](json::object& o) { o["alert"].as_object()["signature"] = ""; },
       "alert.signature"},
      {"long signature",
       [](json::object& o) { o["alert"].as_object()["signature"] = std::string(257, 's'); },
       "alert.signature"},
      {"signature with escape",
       [](json::object& o) { o["alert"].as_object()["signature"] = "red\x1b[31m"; },
       "alert.signature"},
      {"signature with NUL",
       [](json::object& o) { o["alert"].as_object()["signature"] = std::string("a\0b", 3); },
       "alert.signature"},
      {"category a list",
       [](json::object& o) { o["alert"].as_object()["category"] = json::array{}; },
       "alert.category"},
      {"src_ip not an address", [](json::object& o) { o["src_ip"] = "10.9.0.300"; }, "src_ip"},
      {"dest_ip a number", [](json::object& o) { o["dest_ip"] = 167837698; }, "dest_ip"},
      {"port too large", [](json::object& o) { o["dest_port"] = 65536; }, "dest_port"},
      {"negative port", [](json::object& o) { o["src_port"] = -1; }, "src_port"},
      {"vlan not a list", [](json::object& o) { o["vlan"] = 10; }, "vlan"},
      {"vlan out of range", [](json::object& o) { o["vlan"] = json::array{4096}; }, "vlan"},
      {"too many vlans",
       [](json::object& o) {
         o["vlan"] = json::array{1, 2, 3, 4};
       },
       "vlan"},
      {"details a string", [](json::object& o) { o["details"] = "x"; }, "details"},
  };
  for (const Case& c : cases) {
    json::object o = Modbus();
    c.change(o);
    auto parsed = ParseAlert(o);
    ASSERT_FALSE(parsed) << c.name;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidInput) << c.name;
    EXPECT_NE(parsed.error().message().find(c.expected), std::string::npos)
        << c.name << ": " << parsed.error().message();
  }
}

TEST(AlertTest, DetectorNamesFollowTheRule) {
  for (const std::string& good :
       std::vector<std::string>{"a", "modbus-write", "port-scan-2", std::string(64, 'z')}) {
    EXPECT_TRUE(CheckDetector(good)) << good;
  }
  for (const std::string& bad : std::vector<std::string>{
           "", "Modbus", "modbus_write", "modbus write", "modbus/write", "../etc", "d\xc3\xa9",
           std::string(65, 'z'), std::string("a\0b", 3)}) {
    json::object o = Modbus();
    o["alert"].as_object()["detector"] = bad;
    auto parsed = ParseAlert(o);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message().find("a-z, 0-9 and -"), std::string::npos) << bad;
  }
}

TEST(AlertTest, AnAlertOverEightKibibytesIsRefusedWithLimit) {
  json::object o = Modbus();
  o["details"] = json::object{{"payload", std::string(kMaxAlertBytes, 'x')}};
  auto parsed = ParseAlert(o);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), ErrorCode::kLimit);
  // Just under the bound passes.
  o["details"] = json::object{{"payload", std::string(kMaxAlertBytes - kModbus.size(), 'x')}};
  EXPECT_TRUE(ParseAlert(o));
}

TEST(AlertBatchTest, OneObjectOrAnAlertsArray) {
  auto one = ParseAlertBatch(kModbus);
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->size(), 1u);
  const std::string three = R"({"alerts":[)" + std::string(kModbus) + "," + std::string(kModbus) +
                            "," + std::string(kModbus) + "]}";
  auto batch = ParseAlertBatch(three);
  ASSERT_TRUE(batch) << batch.error().message();
  EXPECT_EQ(batch->size(), 3u);
}

TEST(AlertBatchTest, HostileBodiesAreRefusedClearly) {
  EXPECT_NE(Refusal("").find("invalid JSON"), std::string::npos);
  EXPECT_NE(Refusal("not json").find("invalid JSON"), std::string::npos);
  EXPECT_NE(Refusal(std::string(kModbus) + "\n" + std::string(kModbus)).find("invalid JSON"),
            std::string::npos);  // JSON lines are not one of the two forms
  EXPECT_NE(Refusal("[1,2]").find("one alert object"), std::string::npos);
  EXPECT_NE(Refusal("\"alert\"").find("one alert object"), std::string::npos);
  EXPECT_NE(Refusal("{}").find("event_type"), std::string::npos);
  EXPECT_NE(Refusal(R"({"alerts":[]})").find("1 to 256"), std::string::npos);
  EXPECT_NE(Refusal(R"({"alerts":{}})").find("1 to 256"), std::string::npos);
  EXPECT_NE(Refusal("{\"alerts\":[\xff]}").find("invalid JSON"), std::string::npos);
  // The one bad alert of a batch is named by its index; nothing of the batch passes.
  json::object bad = Modbus();
  bad["alert"].as_object()["severity"] = 9;
  const std::string mixed = R"({"alerts":[)" + std::string(kModbus) + "," + Text(bad) + "]}";
  EXPECT_NE(Refusal(mixed).find("alerts[1]: alert.severity"), std::string::npos);
  // Deep nesting is refused by the parser's depth bound, not by a stack overflow.
  std::string deep = R"({"timestamp":"2026-11-26T14:03:07","event_type":"alert","details":)";
  for (int i = 0; i < 10000; ++i) deep += "[";
  EXPECT_NE(Refusal(deep).find("invalid JSON"), std::string::npos);
}

TEST(AlertBatchTest, TooManyOrTooLargeIsRefused) {
  std::string many = R"({"alerts":[)";
  for (std::size_t i = 0; i <= kMaxAlertBatch; ++i) {
    many += (i == 0 ? "" : ",") + std::string(kModbus);
  }
  many += "]}";
  EXPECT_NE(Refusal(many).find("1 to 256"), std::string::npos);
  EXPECT_NE(Refusal(std::string(kMaxAlertBodyBytes + 1, ' '), ErrorCode::kLimit).find("larger"),
            std::string::npos);
}

TEST(AlertSourceTest, HostOrAnAppId) {
  EXPECT_TRUE(CheckAlertSource("host"));
  EXPECT_TRUE(CheckAlertSource("thermo"));
  EXPECT_TRUE(CheckAlertSource("a.b_c-1"));
  for (const char* bad : {"", "Host", "-x", "a/b", "a b", "x\n"}) {
    EXPECT_FALSE(CheckAlertSource(bad)) << bad;
  }
  EXPECT_FALSE(CheckAlertSource(std::string(64, 'a')));
}

TEST(AlertQueryNumberTest, DigitsInRangeOnly) {
  EXPECT_EQ(*ParseAlertQueryNumber("limit", "10", 1, 1000), 10);
  for (const char* bad : {"", "0", "1001", "-1", "+5", "1e3", "10 ", "ten", "0x10"}) {
    auto parsed = ParseAlertQueryNumber("limit", bad, 1, 1000);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message().find("limit must be"), std::string::npos);
  }
}

TEST(AlertWireTest, RecordsAndReportsRoundTrip) {
  AlertRecord record{.id = 0,
                     .device = "",
                     .seq = 7,
                     .received_at = 1764165787,
                     .source = "host",
                     .alert_json = std::string(kModbus)};
  const json::value wire = ToJson(record);
  EXPECT_FALSE(wire.as_object().contains("id"));  // a node's record has no director id
  EXPECT_FALSE(wire.as_object().contains("device"));
  EXPECT_TRUE(wire.as_object().at("alert").is_object());
  AlertRecord back;
  ASSERT_TRUE(FromJson(wire, &back));
  EXPECT_EQ(back.seq, 7);
  EXPECT_EQ(back.source, "host");
  EXPECT_EQ(json::parse(back.alert_json), json::parse(kModbus));

  NodeReport report{.agent_version = "0.1.0", .health = "ok", .apps = {}, .alerts = {record}};
  auto parsed = FromJsonText<NodeReport>(ToJsonText(report));
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->alerts.size(), 1u);
  EXPECT_EQ(parsed->alerts[0].seq, 7);
  // A report without alerts says nothing about them (older directors see what they knew).
  report.alerts.clear();
  EXPECT_EQ(ToJsonText(report).find("alerts"), std::string::npos);
}

}  // namespace
}  // namespace fogkeep::api
