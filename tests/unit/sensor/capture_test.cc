#include "sensor/capture.h"

#include <gtest/gtest.h>

#include "core/fs.h"
#include "sensor/synth.h"
#include "support/support.h"

namespace fogkeep::sensor {
namespace {

TEST(Capture, ReadsWhatThePcapWriterWroteWithTimesAndLengths) {
  fogkeep::testing::TempDir dir;
  const std::string path = dir.path() + "/t.pcap";
  PcapWriter writer = *PcapWriter::Create(path);
  FrameBuilder builder;
  FrameEndpoints e;
  for (std::uint16_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(writer.Write(1'000'000ull * i + 7, builder.Udp(e, 1000 + i, 53)));
  }
  ASSERT_TRUE(writer.Close());

  auto capture = Capture::OpenFile(path, "udp and src port 1003");
  ASSERT_TRUE(capture) << capture.error().message();
  EXPECT_EQ((*capture)->link(), LinkType::kEthernet);
  std::vector<std::uint64_t> times;
  ASSERT_TRUE((*capture)->Run(
      [&](std::span<const std::uint8_t> frame, std::uint64_t at, std::uint32_t wire) {
        times.push_back(at);
        EXPECT_EQ(wire, frame.size());
      },
      nullptr));
  EXPECT_EQ(times, (std::vector<std::uint64_t>{3'000'007}));
  EXPECT_EQ((*capture)->stats().received, 1u);
}

TEST(Capture, RefusesWhatIsNotACaptureAndABadFilter) {
  fogkeep::testing::TempDir dir;
  const std::string junk = dir.path() + "/junk.pcap";
  ASSERT_TRUE(fs::WriteFileAtomic(junk, "this is not a capture file at all", 0644));
  auto opened = Capture::OpenFile(junk, "");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), ErrorCode::kInvalidInput);

  EXPECT_EQ(Capture::OpenFile(dir.path() + "/missing.pcap", "").error().code(),
            ErrorCode::kInvalidInput);

  const std::string path = dir.path() + "/t.pcap";
  PcapWriter writer = *PcapWriter::Create(path);
  ASSERT_TRUE(writer.Close());
  auto filtered = Capture::OpenFile(path, "port banana");
  ASSERT_FALSE(filtered);
  EXPECT_EQ(filtered.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(filtered.error().message().find("port banana"), std::string::npos);
}

TEST(Capture, ACutFileEndsWithAClearError) {
  fogkeep::testing::TempDir dir;
  const std::string path = dir.path() + "/t.pcap";
  PcapWriter writer = *PcapWriter::Create(path);
  FrameBuilder builder;
  ASSERT_TRUE(writer.Write(1, builder.Udp(FrameEndpoints{}, 1, 2, std::vector<std::uint8_t>(200))));
  ASSERT_TRUE(writer.Write(2, builder.Udp(FrameEndpoints{}, 1, 2, std::vector<std::uint8_t>(200))));
  ASSERT_TRUE(writer.Close());
  std::string bytes = *fs::ReadFile(path);
  bytes.resize(bytes.size() - 100);
  ASSERT_TRUE(fs::WriteFileAtomic(path, bytes, 0644));
  auto capture = Capture::OpenFile(path, "");
  ASSERT_TRUE(capture);
  int frames = 0;
  const Status ran = (*capture)->Run(
      [&](std::span<const std::uint8_t>, std::uint64_t, std::uint32_t) { ++frames; }, nullptr);
  EXPECT_EQ(frames, 1);
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code(), ErrorCode::kInvalidInput);
}

TEST(Capture, ALiveCaptureOnAMissingInterfaceSaysSo) {
  auto capture = Capture::OpenLive(LiveOptions{.interface = "fk-no-such-if0"});
  ASSERT_FALSE(capture);
  EXPECT_NE(capture.error().message().find("fk-no-such-if0"), std::string::npos);
}

}  // namespace
}  // namespace fogkeep::sensor
