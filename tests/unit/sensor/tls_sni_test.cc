// The server name in a ClientHello, and ClientHellos that are cut or lie about lengths.
#include "sensor/tls_sni.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

using Bytes = std::vector<std::uint8_t>;

bool Sni(const Bytes& payload, std::string& name) {
  std::array<char, 256> out;
  std::size_t length = 0;
  if (!ParseClientHelloSni(payload, out, length)) return false;
  name.assign(out.data(), length);
  return true;
}

// Offset of the server_name extension's type in TlsClientHello's output: record header 5,
// handshake header 4, version 2, random 32, session id 1+32, suites 2+8, compression 1+1,
// extensions length 2.
constexpr std::size_t kServerNameAt = 5 + 4 + 2 + 32 + 33 + 10 + 2 + 2;

TEST(TlsSniTest, FindsTheHostName) {
  std::string name;
  ASSERT_TRUE(Sni(TlsClientHello("plc.Example.com"), name));
  EXPECT_EQ(name, "plc.example.com");
  std::string longest(255, 'a');
  ASSERT_TRUE(Sni(TlsClientHello(longest), name));
  EXPECT_EQ(name.size(), 255u);
}

TEST(TlsSniTest, NoServerName) {
  std::string name;
  EXPECT_FALSE(Sni(TlsClientHello(""), name));
  EXPECT_FALSE(Sni({}, name));
  Bytes not_handshake = TlsClientHello("a.example");
  not_handshake[0] = 23;  // application data
  EXPECT_FALSE(Sni(not_handshake, name));
  Bytes server_hello = TlsClientHello("a.example");
  server_hello[5] = 2;
  EXPECT_FALSE(Sni(server_hello, name));
}

TEST(TlsSniTest, ServerNameAfterOtherExtensionsAndNameTypes) {
  // Move server_name behind supported_groups by building the extensions by hand.
  Bytes hello = TlsClientHello("");
  std::size_t extensions_length_at = kServerNameAt - 2;
  Bytes extra = {0, 10, 0, 4,   0,   2,   0,   0x1d,  // supported_groups again (order is free)
                 0, 0,  0, 17,  0,   15,              // server_name, list of 15
                 1, 0,  3, 'x', 'y', 'z',             // an unknown name type first
                 0, 0,  6, 'h', '.', 't', 'e', 's',  't'};
  hello.insert(hello.end(), extra.begin(), extra.end());
  auto add = [&](std::size_t at, std::size_t width, std::size_t n) {
    std::size_t v = 0;
    for (std::size_t i = 0; i < width; ++i) v = v << 8 | hello[at + i];
    v += n;
    for (std::size_t i = 0; i < width; ++i) {
      hello[at + width - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
  };
  add(3, 2, extra.size());
  add(6, 3, extra.size());
  add(extensions_length_at, 2, extra.size());
  std::string name;
  ASSERT_TRUE(Sni(hello, name));
  EXPECT_EQ(name, "h.test");
}

TEST(TlsSniTest, EveryCut) {
  Bytes hello = TlsClientHello("scada.example.net");
  std::size_t name_end = kServerNameAt + 4 + 2 + 3 + 17;
  std::string name;
  for (std::size_t n = 0; n <= hello.size(); ++n) {
    // Exactly n bytes on the heap, so that a read past them is caught.
    Bytes cut(hello.begin(), hello.begin() + n);
    bool found = Sni(cut, name);
    // A ClientHello cut after the host name still names the server.
    EXPECT_EQ(found, n >= name_end) << n;
    if (found) {
      EXPECT_EQ(name, "scada.example.net");
    }
  }
}

TEST(TlsSniTest, LengthsThatLie) {
  Bytes hello = TlsClientHello("a.example");
  std::string name;
  auto with = [&](std::size_t at, std::uint8_t value) {
    Bytes b = hello;
    b[at] = value;
    return b;
  };
  EXPECT_FALSE(Sni(with(4, 10), name));                    // record shorter than the handshake
  EXPECT_FALSE(Sni(with(43, 33), name));                   // session id over 32
  EXPECT_FALSE(Sni(with(44 + 32 + 1, 7), name));           // odd cipher suites length
  EXPECT_FALSE(Sni(with(44 + 32 + 1, 0), name));           // no cipher suites
  EXPECT_FALSE(Sni(with(kServerNameAt - 2, 0xff), name));  // extensions past the handshake
  EXPECT_FALSE(Sni(with(kServerNameAt + 3, 0xff), name));  // extension past the extensions
  EXPECT_FALSE(Sni(with(kServerNameAt + 5, 0xff), name));  // name list past the extension
  EXPECT_FALSE(Sni(with(kServerNameAt + 8, 0xff), name));  // host name past the list
  EXPECT_FALSE(Sni(with(kServerNameAt + 8, 0), name));     // empty host name
  Bytes no_compression = hello;
  no_compression[44 + 32 + 2 + 8] = 0;
  EXPECT_FALSE(Sni(no_compression, name));
}

}  // namespace
}  // namespace fogkeep::sensor
