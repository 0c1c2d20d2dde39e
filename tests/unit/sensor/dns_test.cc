// DNS: header fields, the first question's name, and the names that try to break a parser.
#include "sensor/dns.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A query header (id 1, qdcount 1) followed by `name` as raw wire bytes and type A, class IN.
Bytes QueryWithRawName(const Bytes& name) {
  Bytes message = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  message.insert(message.end(), name.begin(), name.end());
  message.insert(message.end(), {0, 1, 0, 1});
  return message;
}

TEST(DnsTest, Query) {
  DnsMessage m;
  ASSERT_TRUE(ParseDns(DnsQuery(0xbeef, "Www.Example.COM", 28), m));
  EXPECT_EQ(m.id, 0xbeef);
  EXPECT_FALSE(m.is_response);
  EXPECT_EQ(m.opcode, 0);
  EXPECT_EQ(m.rcode, 0);
  EXPECT_EQ(m.qdcount, 1);
  EXPECT_EQ(m.ancount, 0);
  EXPECT_TRUE(m.has_question);
  EXPECT_EQ(m.name(), "www.example.com");
  EXPECT_EQ(m.qname_length, 15u);
  EXPECT_EQ(m.qtype, 28);
  EXPECT_EQ(m.qclass, 1);
  EXPECT_EQ(m.label_count, 3u);
  EXPECT_EQ(m.longest_label, 7u);
}

TEST(DnsTest, ResponseWithAnswersAndRcode) {
  std::vector<IpAddress> answers = {IpAddress::V4(0x5db8d822), IpAddress::V4(0x5db8d823)};
  DnsMessage m;
  ASSERT_TRUE(ParseDns(DnsResponse(7, "example.org", 1, 0, answers), m));
  EXPECT_TRUE(m.is_response);
  EXPECT_EQ(m.ancount, 2);
  EXPECT_EQ(m.name(), "example.org");
  ASSERT_TRUE(ParseDns(DnsResponse(8, "nope.example.org", 1, 3), m));
  EXPECT_EQ(m.rcode, 3);  // NXDOMAIN
  EXPECT_EQ(m.ancount, 0);
}

TEST(DnsTest, OpcodeAndNoQuestion) {
  Bytes message = DnsQuery(1, "a.b", 1);
  message[2] = 0x28;  // opcode 5 (UPDATE)
  DnsMessage m;
  ASSERT_TRUE(ParseDns(message, m));
  EXPECT_EQ(m.opcode, 5);
  Bytes header_only = {0, 9, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_TRUE(ParseDns(header_only, m));
  EXPECT_EQ(m.id, 9);
  EXPECT_FALSE(m.has_question);
  EXPECT_EQ(m.qname_length, 0u);
  EXPECT_FALSE(ParseDns(Bytes(11, 0), m));
}

TEST(DnsTest, RootName) {
  DnsMessage m;
  ASSERT_TRUE(ParseDns(QueryWithRawName({0}), m));
  EXPECT_TRUE(m.has_question);
  EXPECT_EQ(m.name(), "");
  EXPECT_EQ(m.label_count, 0u);
  EXPECT_EQ(m.qtype, 1);
}

TEST(DnsTest, BackwardPointerIsFollowed) {
  // Nothing precedes the first question but the header, so its pointer leads there: offset 4
  // holds qdcount's high byte, 0, which reads as the root.
  DnsMessage m;
  ASSERT_TRUE(ParseDns(QueryWithRawName({3, 'w', 'w', 'w', 0xc0, 4}), m));
  EXPECT_EQ(m.name(), "www");
  EXPECT_EQ(m.qtype, 1);  // read after the pointer, not after where it led

  // ancount 0x0158 and nscount 0 make the bytes at offset 6 read "\1X\0": the label "x".
  Bytes message = QueryWithRawName({3, 'w', 'w', 'w', 0xc0, 6});
  message[6] = 0x01;
  message[7] = 'X';
  ASSERT_TRUE(ParseDns(message, m));
  EXPECT_EQ(m.name(), "www.x");
  EXPECT_EQ(m.label_count, 2u);
  EXPECT_EQ(m.ancount, 0x0158);
}

TEST(DnsTest, PointerLoopsAndForwardPointersAreRefused) {
  DnsMessage m;
  EXPECT_FALSE(ParseDns(QueryWithRawName({0xc0, 12}), m));          // to itself
  EXPECT_FALSE(ParseDns(QueryWithRawName({0xc0, 14, 0}), m));       // forward
  EXPECT_FALSE(ParseDns(QueryWithRawName({1, 'a', 0xc0, 12}), m));  // back into its own run
  // Two pointers chasing each other: 14 -> 12 is backwards, but 12's run leads to 14 again.
  EXPECT_FALSE(ParseDns(QueryWithRawName({1, 'a', 0xc0, 12, 0xc0, 14}), m));
  EXPECT_FALSE(ParseDns(QueryWithRawName({0xc0}), m));        // a pointer cut in half
  EXPECT_FALSE(ParseDns(QueryWithRawName({0xc3, 0xff}), m));  // far past the end
}

TEST(DnsTest, LabelAndNameLimits) {
  DnsMessage m;
  Bytes label63 = {63};
  label63.insert(label63.end(), 63, 'x');
  label63.push_back(0);
  ASSERT_TRUE(ParseDns(QueryWithRawName(label63), m));
  EXPECT_EQ(m.longest_label, 63u);
  Bytes label64 = {64};
  label64.insert(label64.end(), 64, 'x');
  label64.push_back(0);
  EXPECT_FALSE(ParseDns(QueryWithRawName(label64), m));  // 0x40: an extended label type
  EXPECT_FALSE(ParseDns(QueryWithRawName({0x80, 'x', 0}), m));

  // 255 bytes of name on the wire is the limit: 3 labels of 63 and one of 62 with their
  // length octets and the root make exactly 255.
  auto name_of = [](std::size_t last_label) {
    Bytes name;
    for (std::size_t label : {std::size_t{63}, std::size_t{63}, std::size_t{63}, last_label}) {
      name.push_back(static_cast<std::uint8_t>(label));
      name.insert(name.end(), label, 'a');
    }
    name.push_back(0);
    return name;
  };
  ASSERT_TRUE(ParseDns(QueryWithRawName(name_of(61)), m));
  EXPECT_EQ(m.qname_length, 253u);
  EXPECT_EQ(m.label_count, 4u);
  EXPECT_FALSE(ParseDns(QueryWithRawName(name_of(62)), m));
}

TEST(DnsTest, EveryCutIsRefusedOrComplete) {
  Bytes message = DnsQuery(3, "mail.example.net", 15);
  DnsMessage m;
  for (std::size_t n = 0; n < message.size(); ++n) {
    Bytes cut(message.begin(), message.begin() + n);
    EXPECT_FALSE(ParseDns(cut, m)) << n;
  }
  EXPECT_TRUE(ParseDns(message, m));
}

}  // namespace
}  // namespace fogkeep::sensor
