// FlattenOciLayout is declared in tar_writer.h.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "crypto/hash.h"
#include "package/tar_writer.h"
#include "support/support.h"
#include "support/tar_builder.h"

namespace fogkeep::package {
namespace {

using ::fogkeep::testing::Gzip;
using ::fogkeep::testing::TarBuilder;
using ::fogkeep::testing::TempDir;

constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kIndexType = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kTarGz = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kTar = "application/vnd.oci.image.layer.v1.tar";

std::string Descriptor(std::string_view media_type, std::string_view content,
                       std::string_view extra = "") {
  return "{\"mediaType\":\"" + std::string(media_type) +
         "\",\"digest\":\"sha256:" + crypto::Sha256Hex(content) +
         "\",\"size\":" + std::to_string(content.size()) + std::string(extra) + "}";
}

std::string Tagged(std::string_view tag) {
  return ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"" + std::string(tag) + "\"}";
}

class OciLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    layout_ = tmp_ / "layout";
    dest_ = tmp_ / "rootfs";
    ASSERT_TRUE(fs::MakeDirs(layout_ + "/blobs/sha256"));
    ASSERT_TRUE(fs::WriteFileAtomic(layout_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));

    layer1_ = Gzip(TarBuilder()
                       .Dir("bin")
                       .File("bin/busybox", "busybox", 0755)
                       .Symlink("bin/sh", "/bin/busybox")
                       .File("etc/os-release", "ID=test\n")
                       .File("gone", "lower")
                       .File("data/old1", "1")
                       .File("data/old2", "2")
                       .File("opq/lower", "l")
                       .File("opq/sub/lower", "l")
                       .Finish());
    layer2_ = TarBuilder()
                  .File(".wh.gone", "")
                  .File("data/.wh.old1", "")
                  .File("opq/.wh..wh..opq", "")
                  .File("opq/upper", "u")
                  .File("etc/new", "new\n")
                  .Finish();
    config_ = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
    manifest_ = "{\"schemaVersion\":2,\"mediaType\":\"" + std::string(kManifestType) +
                "\",\"config\":" + Descriptor("application/vnd.oci.image.config.v1+json", config_) +
                ",\"layers\":[" + Descriptor(kTarGz, layer1_) + "," + Descriptor(kTar, layer2_) +
                "]}";
    for (const auto* blob : {&layer1_, &layer2_, &config_, &manifest_}) PutBlob(*blob);
    WriteIndex("[" + Descriptor(kManifestType, manifest_, Tagged("v1")) + "]");
  }

  void PutBlob(std::string_view content) {
    ASSERT_TRUE(fs::WriteFileAtomic(BlobPath(content), content));
  }
  std::string BlobPath(std::string_view content) const {
    return layout_ + "/blobs/sha256/" + crypto::Sha256Hex(content);
  }
  void WriteIndex(const std::string& manifests) {
    ASSERT_TRUE(fs::WriteFileAtomic(layout_ + "/index.json",
                                    "{\"schemaVersion\":2,\"manifests\":" + manifests + "}"));
  }

  void ExpectError(ErrorCode code, std::string_view tag = {}, std::string_view needle = {}) {
    auto status = FlattenOciLayout(layout_, dest_, tag);
    ASSERT_FALSE(status) << "flattening succeeded";
    EXPECT_EQ(status.error().code(), code) << status.error().message();
    if (!needle.empty()) {
      EXPECT_NE(status.error().message().find(needle), std::string::npos)
          << status.error().message();
    }
  }

  std::set<std::string> Tree() const {
    std::set<std::string> out;
    EXPECT_TRUE(fs::Walk(dest_, [&](const std::string& rel, const struct stat&) -> Status {
      out.insert(rel);
      return {};
    }));
    return out;
  }

  TempDir tmp_;
  std::string layout_, dest_;
  std::string layer1_, layer2_, config_, manifest_;
};

TEST_F(OciLayoutTest, FlattensLayersWithWhiteouts) {
  auto status = FlattenOciLayout(layout_, dest_);
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_EQ(Tree(), (std::set<std::string>{"bin", "bin/busybox", "bin/sh", "etc", "etc/os-release",
                                           "etc/new", "data", "data/old2", "opq", "opq/upper"}));
  EXPECT_EQ(*fs::ReadFile(dest_ + "/etc/new"), "new\n");
  char target[64] = {};
  ASSERT_GT(::readlink((dest_ + "/bin/sh").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "/bin/busybox");
}

TEST_F(OciLayoutTest, SelectsByTagAndListsTagsWhenAmbiguous) {
  std::string other_layer = TarBuilder().File("other", "o").Finish();
  std::string other_manifest = "{\"schemaVersion\":2,\"config\":" +
                               Descriptor("application/vnd.oci.image.config.v1+json", config_) +
                               ",\"layers\":[" + Descriptor(kTar, other_layer) + "]}";
  PutBlob(other_layer);
  PutBlob(other_manifest);
  WriteIndex("[" + Descriptor(kManifestType, manifest_, Tagged("v1")) + "," +
             Descriptor(kManifestType, other_manifest, Tagged("v2")) + "]");
  ExpectError(ErrorCode::kInvalidInput, {}, "v1, v2");
  ExpectError(ErrorCode::kNotFound, "v3", "v1, v2");
  ASSERT_TRUE(FlattenOciLayout(layout_, dest_, "v2"));
  EXPECT_EQ(Tree(), std::set<std::string>{"other"});
}

TEST_F(OciLayoutTest, FollowsANestedIndexByPlatform) {
  std::string arm_manifest = "{\"schemaVersion\":2,\"config\":" +
                             Descriptor("application/vnd.oci.image.config.v1+json", config_) +
                             ",\"layers\":[]}";
  PutBlob(arm_manifest);
#if defined(__x86_64__)
  std::string host = "amd64", other = "s390x";
#else
  std::string host = "arm64", other = "s390x";
#endif
  std::string nested =
      "{\"schemaVersion\":2,\"mediaType\":\"" + std::string(kIndexType) + "\",\"manifests\":[" +
      Descriptor(kManifestType, arm_manifest,
                 ",\"platform\":{\"os\":\"linux\",\"architecture\":\"" + other + "\"}") +
      "," +
      Descriptor(kManifestType, manifest_,
                 ",\"platform\":{\"os\":\"linux\",\"architecture\":\"" + host + "\"}") +
      "]}";
  PutBlob(nested);
  WriteIndex("[" + Descriptor(kIndexType, nested, Tagged("multi")) + "]");
  auto status = FlattenOciLayout(layout_, dest_);
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_TRUE(Tree().contains("etc/new"));
}

TEST_F(OciLayoutTest, TamperedBlobsFailIntegrity) {
  // Same length, other bytes: the digest catches it.
  std::string tampered = layer2_;
  tampered[600] ^= 1;
  ASSERT_TRUE(fs::WriteFileAtomic(BlobPath(layer2_), tampered));
  ExpectError(ErrorCode::kIntegrity, {}, "does not match its digest");

  // A valid tar that is longer than its descriptor says.
  ASSERT_TRUE(fs::WriteFileAtomic(BlobPath(layer2_), layer2_ + std::string(512, '\0')));
  ExpectError(ErrorCode::kIntegrity, {}, "larger than");

  // A manifest edited after it was hashed.
  PutBlob(layer2_);
  std::string edited = manifest_;
  edited.replace(edited.find("schemaVersion\":2"), 16, "schemaVersion\":2");
  edited += " ";
  ASSERT_TRUE(fs::WriteFileAtomic(BlobPath(manifest_), edited));
  ExpectError(ErrorCode::kIntegrity);
}

TEST_F(OciLayoutTest, MalformedJsonIsInvalidInput) {
  const std::vector<std::string> bad_indexes = {
      "{not json",
      "[]",
      "{\"schemaVersion\":2}",
      "{\"schemaVersion\":2,\"manifests\":\"x\"}",
      "{\"schemaVersion\":2,\"manifests\":[]}",
      "{\"schemaVersion\":2,\"manifests\":[42]}",
      "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":7}]}",
      "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" + std::string(kManifestType) +
          "\",\"digest\":\"sha256:" + std::string(64, 'a') + "\",\"size\":\"12\"}]}",
      "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" + std::string(kManifestType) +
          "\",\"digest\":\"sha256:" + std::string(64, 'a') + "\",\"size\":-1}]}",
      "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" + std::string(kManifestType) +
          "\",\"digest\":\"sha256:" + std::string(64, 'a') + "\",\"size\":1e30}]}",
      "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" + std::string(kManifestType) +
          "\",\"digest\":\"sha256:" + std::string(64, 'a') + "\",\"size\":1,\"annotations\":[]}]}",
      "{\"schemaVersion\":2,\"layers\":[],\"manifests\":[" + Descriptor(kManifestType, manifest_) +
          "]}",
      std::string(100, '[') + std::string(100, ']'),
  };
  for (const auto& index : bad_indexes) {
    SCOPED_TRACE(index.substr(0, 120));
    ASSERT_TRUE(fs::WriteFileAtomic(layout_ + "/index.json", index));
    ExpectError(ErrorCode::kInvalidInput);
  }
  ASSERT_TRUE(fs::WriteFileAtomic(layout_ + "/oci-layout", "{\"imageLayoutVersion\":2}"));
  ExpectError(ErrorCode::kInvalidInput);
  EXPECT_FALSE(fs::OpenDir(dest_)) << "nothing is extracted from a broken layout";
}

TEST_F(OciLayoutTest, HostileManifestFields) {
  auto with_manifest = [&](const std::string& manifest) {
    PutBlob(manifest);
    WriteIndex("[" + Descriptor(kManifestType, manifest) + "]");
  };
  std::string config = Descriptor("application/vnd.oci.image.config.v1+json", config_);
  with_manifest("{\"schemaVersion\":\"2\",\"config\":" + config + ",\"layers\":[]}");
  ExpectError(ErrorCode::kInvalidInput, {}, "schemaVersion");
  with_manifest("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":{}}");
  ExpectError(ErrorCode::kInvalidInput, {}, "layers");
  with_manifest("{\"schemaVersion\":2,\"config\":" + config +
                ",\"layers\":[{\"mediaType\":\"application/x-evil\",\"digest\":\"sha256:" +
                std::string(64, 'a') + "\",\"size\":1}]}");
  ExpectError(ErrorCode::kInvalidInput, {}, "media type");
  with_manifest("{\"schemaVersion\":2,\"config\":" + config + ",\"layers\":[],\"manifests\":[]}");
  ExpectError(ErrorCode::kInvalidInput, {}, "index fields");
  with_manifest("{\"schemaVersion\":2,\"mediaType\":\"" + std::string(kIndexType) +
                "\",\"config\":" + config + ",\"layers\":[]}");
  ExpectError(ErrorCode::kInvalidInput, {}, "differs");
  // A JSON blob that claims to be enormous is refused before it is read.
  WriteIndex("[{\"mediaType\":\"" + std::string(kManifestType) + "\",\"digest\":\"sha256:" +
             crypto::Sha256Hex(manifest_) + "\",\"size\":9223372036854775807}]");
  ExpectError(ErrorCode::kLimit);
}

TEST_F(OciLayoutTest, DigestsThatCouldLeaveTheLayoutAreRefused) {
  // A file the hostile digest would reach if it were used as a path.
  ASSERT_TRUE(fs::WriteFileAtomic(tmp_ / "target", manifest_));
  for (const std::string& digest :
       {std::string("sha256:../../../target"), "sha256:../../" + std::string(58, 'a'),
        "sha256:" + std::string(63, 'a') + "/", "sha256:" + std::string(64, 'A'),
        "sha512:" + std::string(128, 'a'), std::string("../../target"), std::string("")}) {
    SCOPED_TRACE(digest);
    WriteIndex("[{\"mediaType\":\"" + std::string(kManifestType) + "\",\"digest\":\"" + digest +
               "\",\"size\":" + std::to_string(manifest_.size()) + "}]");
    ExpectError(ErrorCode::kInvalidInput, {}, "digest");
  }
}

TEST_F(OciLayoutTest, BlobsAreNotReadThroughSymlinks) {
  // The layer blob replaced by a symlink to a file with the right content elsewhere.
  ASSERT_TRUE(fs::WriteFileAtomic(tmp_ / "elsewhere", layer2_));
  ASSERT_EQ(::unlink(BlobPath(layer2_).c_str()), 0);
  ASSERT_EQ(::symlink((tmp_ / "elsewhere").c_str(), BlobPath(layer2_).c_str()), 0);
  ExpectError(ErrorCode::kInvalidInput, {}, "symlink");
  // The blobs directory itself a symlink.
  ASSERT_EQ(::rename((layout_ + "/blobs").c_str(), (tmp_ / "realblobs").c_str()), 0);
  ASSERT_EQ(::symlink((tmp_ / "realblobs").c_str(), (layout_ + "/blobs").c_str()), 0);
  ExpectError(ErrorCode::kInvalidInput, {}, "symlink");
}

TEST_F(OciLayoutTest, MissingBlobIsNotFound) {
  ASSERT_EQ(::unlink(BlobPath(layer1_).c_str()), 0);
  ExpectError(ErrorCode::kNotFound, {}, crypto::Sha256Hex(layer1_));
}

TEST_F(OciLayoutTest, HostileLayerIsRefusedByTheExtractor) {
  std::string evil = TarBuilder().Symlink("x", "/").File("x/pwned", "p").Finish();
  std::string manifest = "{\"schemaVersion\":2,\"config\":" +
                         Descriptor("application/vnd.oci.image.config.v1+json", config_) +
                         ",\"layers\":[" + Descriptor(kTar, evil) + "]}";
  PutBlob(evil);
  PutBlob(manifest);
  WriteIndex("[" + Descriptor(kManifestType, manifest) + "]");
  ExpectError(ErrorCode::kInvalidInput, {}, "layer 0");
  EXPECT_NE(::access("/pwned", F_OK), 0);
}

// A layout written by a real tool: umoci creates an image, unpacks it, a file is added, and
// umoci repacks it into a new layer.
TEST(OciLayoutUmociTest, FlattensAnImageBuiltByUmoci) {
  const char* umoci = "/usr/bin/umoci";
  if (::access(umoci, X_OK) != 0) GTEST_SKIP() << "umoci is not installed";
  TempDir tmp;
  std::string layout = tmp / "layout";
  std::string bundle = tmp / "bundle";
  auto run = [](const std::string& command) {
    int status = std::system((command + " >/dev/null 2>&1").c_str());
    return status == 0;
  };
  std::string rootless = ::geteuid() == 0 ? "" : " --rootless";
  ASSERT_TRUE(run(std::string(umoci) + " init --layout " + layout));
  ASSERT_TRUE(run(std::string(umoci) + " new --image " + layout + ":latest"));
  ASSERT_TRUE(
      run(std::string(umoci) + " unpack" + rootless + " --image " + layout + ":latest " + bundle));
  ASSERT_TRUE(fs::MakeDirs(bundle + "/rootfs/etc"));
  ASSERT_TRUE(fs::WriteFileAtomic(bundle + "/rootfs/etc/greeting", "hello from umoci\n"));
  ASSERT_EQ(::symlink("/etc/greeting", (bundle + "/rootfs/link").c_str()), 0);
  ASSERT_TRUE(
      run(std::string(umoci) + " repack" + rootless + " --image " + layout + ":latest " + bundle));

  std::string dest = tmp / "rootfs";
  auto status = FlattenOciLayout(layout, dest, "latest");
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_EQ(*fs::ReadFile(dest + "/etc/greeting"), "hello from umoci\n");
  char target[64] = {};
  ASSERT_GT(::readlink((dest + "/link").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "/etc/greeting");
  // Without a tag the single image is taken as well.
  ASSERT_TRUE(fs::RemoveTree(dest));
  EXPECT_TRUE(FlattenOciLayout(layout, dest));
}

}  // namespace
}  // namespace fogkeep::package
