#include "package/rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "support/support.h"
#include "support/tar_builder.h"

namespace fogkeep::package {
namespace {

using ::fogkeep::testing::Gzip;
using ::fogkeep::testing::GzipStream;
using ::fogkeep::testing::kTarFile;
using ::fogkeep::testing::LongNames;
using ::fogkeep::testing::TarBuilder;
using ::fogkeep::testing::TarEntry;
using ::fogkeep::testing::TarHeaderBlock;

// Generates an archive lazily, block by block, so tests can feed gigabytes or hundreds of
// thousands of entries without holding them. `next` appends the next piece to `out` and
// returns false at the end of the stream.
class GeneratedSource : public ByteSource {
 public:
  explicit GeneratedSource(std::function<bool(std::string& out)> next) : next_(std::move(next)) {}

  Result<std::size_t> Read(char* buf, std::size_t size) override {
    while (pending_.size() == offset_ && !done_) {
      pending_.clear();
      offset_ = 0;
      done_ = !next_(pending_);
    }
    std::size_t n = std::min(size, pending_.size() - offset_);
    std::memcpy(buf, pending_.data() + offset_, n);
    offset_ += n;
    produced_ += n;
    return n;
  }
  std::uint64_t produced() const { return produced_; }

 private:
  std::function<bool(std::string&)> next_;
  std::string pending_;
  std::size_t offset_ = 0;
  bool done_ = false;
  std::uint64_t produced_ = 0;
};

class FailingSource : public ByteSource {
 public:
  Result<std::size_t> Read(char*, std::size_t) override {
    return Fail(ErrorCode::kUnavailable, "connection reset");
  }
};

std::string Zstd(std::string_view data) {
  std::string out;
  archive* a = archive_write_new();
  EXPECT_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
  EXPECT_EQ(archive_write_set_format_raw(a), ARCHIVE_OK);
  archive_write_set_bytes_per_block(a, 0);
  auto collect = [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  EXPECT_EQ(archive_write_open(a, &out, nullptr, collect, nullptr), ARCHIVE_OK);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "data");
  archive_entry_set_filetype(e, AE_IFREG);
  EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK);
  archive_entry_free(e);
  EXPECT_EQ(archive_write_data(a, data.data(), data.size()), static_cast<la_ssize_t>(data.size()));
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_ / "root";
    outside_ = tmp_ / "outside";
    secret_ = tmp_ / "secret";
    for (const auto& dir : {root_, outside_, secret_}) ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    ASSERT_TRUE(fs::WriteFileAtomic(secret_ + "/file", "secret"));
    auto fd = fs::OpenDir(root_);
    ASSERT_TRUE(fd);
    root_fd_ = std::move(*fd);
  }

  void TearDown() override {
    // Whatever happened, nothing may have been written outside the root.
    EXPECT_EQ(Entries(outside_), std::set<std::string>{});
    EXPECT_EQ(Entries(secret_), std::set<std::string>{"file"});
    std::set<std::string> top;
    for (const auto& name : Entries(tmp_.path())) {
      if (name.find('/') == std::string::npos) top.insert(name);
    }
    EXPECT_EQ(top, (std::set<std::string>{"outside", "root", "secret"}));
    struct stat st {};
    ASSERT_EQ(::stat((secret_ + "/file").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u) << "a hard link to a file outside the root was made";
    EXPECT_EQ(*fs::ReadFile(secret_ + "/file"), "secret");
  }

  Result<ExtractStats> Extract(const std::string& bytes, const ExtractOptions& options = {}) {
    MemorySource source(bytes);
    return ExtractTar(source, root_fd_.get(), options);
  }

  void ExpectError(const std::string& bytes, ErrorCode code, const ExtractOptions& options = {}) {
    auto result = Extract(bytes, options);
    ASSERT_FALSE(result) << "extraction succeeded";
    EXPECT_EQ(result.error().code(), code) << result.error().message();
    EXPECT_FALSE(result.error().message().empty());
  }

  static std::set<std::string> Entries(const std::string& dir) {
    std::set<std::string> out;
    auto st = fs::Walk(dir, [&](const std::string& rel, const struct stat&) -> Status {
      out.insert(rel);
      return {};
    });
    EXPECT_TRUE(st) << st.error().message();
    return out;
  }

  std::string In(std::string_view rel) const { return root_ + "/" + std::string(rel); }

  struct stat Lstat(std::string_view rel) const {
    struct stat st {};
    EXPECT_EQ(::lstat(In(rel).c_str(), &st), 0) << rel;
    return st;
  }

  bool Exists(std::string_view rel) const {
    struct stat st {};
    return ::lstat(In(rel).c_str(), &st) == 0;
  }

  std::string ReadLink(std::string_view rel) const {
    char buf[4096];
    ssize_t n = ::readlink(In(rel).c_str(), buf, sizeof(buf));
    return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
  }

  ::fogkeep::testing::TempDir tmp_;
  std::string root_, outside_, secret_;
  fs::UniqueFd root_fd_;
};

// ---- Positive cases -------------------------------------------------------------------------

TEST_F(RootfsTest, ExtractsFilesDirectoriesAndSymlinksVerbatim) {
  std::string tar = TarBuilder()
                        .Dir("./")
                        .Dir("./bin")
                        .File("./bin/busybox", "#!busybox\n", 0755)
                        .Symlink("bin/sh", "/bin/busybox")
                        .Symlink("usr/bin/x", "../lib/x")
                        .Symlink("dangling", "../../../../nowhere")
                        .File("etc/hostname", "edge\n")
                        .Finish();
  auto stats = Extract(tar);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->entries, 7u);
  EXPECT_EQ(stats->bytes, 15u);
  EXPECT_EQ(*fs::ReadFile(In("bin/busybox")), "#!busybox\n");
  EXPECT_EQ(ReadLink("bin/sh"), "/bin/busybox");
  EXPECT_EQ(ReadLink("usr/bin/x"), "../lib/x");
  EXPECT_EQ(ReadLink("dangling"), "../../../../nowhere");
  EXPECT_EQ(*fs::ReadFile(In("etc/hostname")), "edge\n");
  EXPECT_TRUE(S_ISDIR(Lstat("usr/bin").st_mode));
  EXPECT_EQ(Lstat("usr").st_mode & 07777, 0755u);  // implied directories get 0755
}

TEST_F(RootfsTest, MtimesAreKeptForFilesSymlinksAndDirectories) {
  TarEntry dir{
      .name = "d", .type = ::fogkeep::testing::kTarDirectory, .mode = 0755, .mtime = 1'000'000};
  TarEntry file{.name = "d/f", .data = "x", .mtime = 2'000'000};
  TarEntry link{.name = "d/l",
                .type = ::fogkeep::testing::kTarSymlink,
                .link_target = "f",
                .mtime = 3'000'000};
  ASSERT_TRUE(Extract(TarBuilder().Add(dir).Add(file).Add(link).Finish()));
  EXPECT_EQ(Lstat("d").st_mtime, 1'000'000);  // set after its children were created
  EXPECT_EQ(Lstat("d/f").st_mtime, 2'000'000);
  EXPECT_EQ(Lstat("d/l").st_mtime, 3'000'000);
}

TEST_F(RootfsTest, HardLinkWithinRootSharesTheInode) {
  std::string tar =
      TarBuilder().File("bin/busybox", "bb", 0755).Hardlink("bin/ls", "bin/busybox").Finish();
  ASSERT_TRUE(Extract(tar));
  struct stat a = Lstat("bin/busybox");
  struct stat b = Lstat("bin/ls");
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
}

TEST_F(RootfsTest, ModesKeepPermissionsAndStickyButDropSetuid) {
  std::string tar = TarBuilder()
                        .Dir("tmp", 01777)
                        .Dir("ro", 0500)
                        .File("ro/inside", "x", 0444)
                        .File("suid", "x", 04755)
                        .File("sgid", "x", 02711)
                        .File("private", "x", 0600)
                        .Finish();
  auto stats = Extract(tar);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(Lstat("tmp").st_mode & 07777, 01777u);
  EXPECT_EQ(Lstat("ro").st_mode & 07777, 0500u);  // restored after its child was written
  EXPECT_EQ(Lstat("ro/inside").st_mode & 07777, 0444u);
  EXPECT_EQ(Lstat("suid").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat("sgid").st_mode & 07777, 0711u);
  EXPECT_EQ(Lstat("private").st_mode & 07777, 0600u);
}

TEST_F(RootfsTest, IdShiftOwnsEveryEntryIncludingSymlinksAndImpliedDirectories) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  TarBuilder b;
  TarEntry dir{.name = "home/app",
               .type = ::fogkeep::testing::kTarDirectory,
               .mode = 0750,
               .uid = 1000,
               .gid = 1001};
  TarEntry file{.name = "home/app/data", .data = "d", .uid = 1000, .gid = 1001};
  TarEntry link{.name = "home/app/link",
                .type = ::fogkeep::testing::kTarSymlink,
                .link_target = "/etc/passwd",
                .uid = 5,
                .gid = 6};
  TarEntry rootfile{.name = "etc/passwd", .data = "root:x:0:0\n"};
  std::string tar = b.Add(dir).Add(file).Add(link).Add(rootfile).Finish();
  ExtractOptions options;
  options.id_shift = 200000;
  auto stats = Extract(tar, options);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(Lstat("home").st_uid, 200000u);  // implied: the container's root
  EXPECT_EQ(Lstat("home/app").st_uid, 201000u);
  EXPECT_EQ(Lstat("home/app").st_gid, 201001u);
  EXPECT_EQ(Lstat("home/app/data").st_uid, 201000u);
  EXPECT_EQ(Lstat("home/app/data").st_gid, 201001u);
  EXPECT_EQ(Lstat("home/app/link").st_uid, 200005u);
  EXPECT_EQ(Lstat("home/app/link").st_gid, 200006u);
  EXPECT_EQ(Lstat("etc/passwd").st_uid, 200000u);
  // The link was not followed: the file it names keeps its own owner.
  EXPECT_EQ(Lstat("home/app/link").st_mode & S_IFMT, static_cast<unsigned>(S_IFLNK));
}

TEST_F(RootfsTest, IdShiftRefusesOwnersThatOverflow) {
  TarEntry file{.name = "f", .data = "x", .uid = 0xFFFFFFF0};
  ExtractOptions options;
  options.id_shift = 200000;
  ExpectError(TarBuilder().Add(file).Finish(), ErrorCode::kInvalidInput, options);
}

TEST_F(RootfsTest, WithoutIdShiftOwnershipIsLeftAlone) {
  TarEntry file{.name = "f", .data = "x", .uid = 4242, .gid = 4242};
  ASSERT_TRUE(Extract(TarBuilder().Add(file).Finish()));
  EXPECT_EQ(Lstat("f").st_uid, ::geteuid());
}

TEST_F(RootfsTest, LaterFileReplacesEarlierFileAndSymlinkWithoutFollowing) {
  std::string tar = TarBuilder()
                        .File("etc/conf", "first")
                        .File("etc/conf", "second")
                        .Symlink("etc/trap", outside_ + "/pwned")
                        .File("etc/trap", "safe")
                        .Symlink("etc/trap2", "../../outside/pwned")
                        .Hardlink("etc/trap2", "etc/conf")
                        .Finish();
  ASSERT_TRUE(Extract(tar));
  EXPECT_EQ(*fs::ReadFile(In("etc/conf")), "second");
  ASSERT_TRUE(Extract(TarBuilder().Symlink("d", outside_).Dir("d").File("d/x", "x").Finish()));
  EXPECT_TRUE(S_ISDIR(Lstat("d").st_mode));
  EXPECT_EQ(*fs::ReadFile(In("d/x")), "x");
  EXPECT_TRUE(S_ISREG(Lstat("etc/trap").st_mode));
  EXPECT_EQ(*fs::ReadFile(In("etc/trap")), "safe");
  EXPECT_EQ(Lstat("etc/trap2").st_ino, Lstat("etc/conf").st_ino);
}

TEST_F(RootfsTest, FileReplacingHardLinkDoesNotWriteThroughIt) {
  std::string tar =
      TarBuilder().File("a", "original").Hardlink("b", "a").File("b", "replacement").Finish();
  ASSERT_TRUE(Extract(tar));
  EXPECT_EQ(*fs::ReadFile(In("a")), "original");
  EXPECT_EQ(*fs::ReadFile(In("b")), "replacement");
}

TEST_F(RootfsTest, FileReplacingDirectoryIsRefusedInAPackageRootfs) {
  std::string tar = TarBuilder().Dir("d").File("d/x", "x").File("d", "file").Finish();
  ExpectError(tar, ErrorCode::kInvalidInput);
}

TEST_F(RootfsTest, GzipAndZstdCompressedTarsAreRead) {
  std::string tar = TarBuilder().File("hello", "world").Finish();
  for (const auto& [name, bytes] : {std::pair{"gzip", Gzip(tar)}, std::pair{"zstd", Zstd(tar)}}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "hello"));
    auto stats = Extract(bytes);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(*fs::ReadFile(In("hello")), "world");
  }
}

TEST_F(RootfsTest, LongNamesThroughGnuAndPaxRecords) {
  std::string deep = std::string(200, 'a') + "/" + std::string(200, 'b') + "/file";
  TarEntry gnu{.name = deep, .data = "gnu"};
  TarEntry pax{.name = deep + "2", .data = "pax", .long_names = LongNames::kPax};
  TarEntry link{.name = "l",
                .type = ::fogkeep::testing::kTarSymlink,
                .link_target = "/" + std::string(300, 'c'),
                .long_names = LongNames::kPax};
  ASSERT_TRUE(Extract(TarBuilder().Add(gnu).Add(pax).Add(link).Finish()));
  EXPECT_EQ(*fs::ReadFile(In(deep)), "gnu");
  EXPECT_EQ(*fs::ReadFile(In(deep + "2")), "pax");
  EXPECT_EQ(ReadLink("l"), "/" + std::string(300, 'c'));
}

TEST_F(RootfsTest, Utf8NamesInPaxRecordsAreKept) {
  TarEntry e{.name = "caf\xc3\xa9/\xe2\x82\xac.txt", .data = "euro", .long_names = LongNames::kPax};
  e.pax.emplace_back("path", e.name);
  auto stats = Extract(TarBuilder().Add(e).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(*fs::ReadFile(In(e.name)), "euro");
}

TEST_F(RootfsTest, WhiteoutsAreOrdinaryFilesUnlessAsked) {
  ASSERT_TRUE(Extract(TarBuilder().File("keep", "k").File("gone", "g").Finish()));
  ASSERT_TRUE(Extract(TarBuilder().File(".wh.gone", "").Finish()));
  EXPECT_TRUE(Exists("gone"));
  EXPECT_TRUE(Exists(".wh.gone"));
}

TEST_F(RootfsTest, WhiteoutsAndOpaqueDirectoriesForImageLayers) {
  // The lower layer.
  ASSERT_TRUE(Extract(TarBuilder()
                          .File("keep", "k")
                          .File("gone", "g")
                          .File("dir/gone-too", "g")
                          .File("opaque/old", "o")
                          .File("opaque/sub/old", "o")
                          .Finish()));
  // The upper layer: whiteouts, an opaque directory that also gets new content.
  ExtractOptions layer;
  layer.apply_whiteouts = true;
  auto stats = Extract(TarBuilder()
                           .File(".wh.gone", "")
                           .File("dir/.wh.gone-too", "")
                           .File("absent/.wh.nothing", "")
                           .File("opaque/new", "n")
                           .File("opaque/.wh..wh..opq", "")
                           .File("opaque/.wh..wh.plnk", "")
                           .Finish(),
                       layer);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_TRUE(Exists("keep"));
  EXPECT_FALSE(Exists("gone"));
  EXPECT_FALSE(Exists(".wh.gone"));
  EXPECT_TRUE(Exists("dir"));
  EXPECT_FALSE(Exists("dir/gone-too"));
  EXPECT_FALSE(Exists("absent"));
  EXPECT_EQ(Entries(In("opaque")), std::set<std::string>{"new"});
}

TEST_F(RootfsTest, WhiteoutCannotReachOutside) {
  ExtractOptions layer;
  layer.apply_whiteouts = true;
  ASSERT_TRUE(Extract(TarBuilder().Symlink("up", "../secret").Finish()));
  // A whiteout through a symlink, and one whose name would climb, are refused.
  ExpectError(TarBuilder().File("up/.wh.file", "").Finish(), ErrorCode::kInvalidInput, layer);
  ExpectError(TarBuilder().File("up/.wh..wh..opq", "").Finish(), ErrorCode::kInvalidInput, layer);
  ExpectError(TarBuilder().File(".wh..", "").Finish(), ErrorCode::kInvalidInput, layer);
  // A whiteout of the symlink itself removes the link, not its target.
  ASSERT_TRUE(Extract(TarBuilder().File(".wh.up", "").Finish(), layer));
  EXPECT_FALSE(Exists("up"));
}

// ---- Hostile archives -----------------------------------------------------------------------

TEST_F(RootfsTest, RefusesDotDotAndAbsolutePaths) {
  for (const std::string& name :
       {std::string("../outside/pwned"), std::string("a/../../outside/pwned"),
        std::string("./../outside/pwned"), std::string("a/b/../../../outside/pwned"),
        outside_ + "/pwned", std::string("/tmp/fogkeep-rootfs-test-pwned")}) {
    SCOPED_TRACE(name);
    ExpectError(TarBuilder().File(name, "pwned").Finish(), ErrorCode::kInvalidInput);
    ExpectError(TarBuilder().Dir(name).Finish(), ErrorCode::kInvalidInput);
    ExpectError(TarBuilder().Symlink(name, "x").Finish(), ErrorCode::kInvalidInput);
  }
  EXPECT_NE(::access("/tmp/fogkeep-rootfs-test-pwned", F_OK), 0);
  EXPECT_EQ(Entries(root_), std::set<std::string>{});
}

TEST_F(RootfsTest, RefusesFileThroughSymlinkPlantedEarlier) {
  for (const std::string& target : {outside_, std::string("../outside"), std::string("/")}) {
    SCOPED_TRACE(target);
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "evil"));
    ExpectError(TarBuilder().Symlink("evil", target).File("evil/pwned", "x").Finish(),
                ErrorCode::kInvalidInput);
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "evil"));
    ExpectError(TarBuilder().Symlink("evil", target).Dir("evil/pwned").Finish(),
                ErrorCode::kInvalidInput);
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "evil"));
    ExpectError(TarBuilder().Symlink("evil", target).Symlink("evil/pwned", "x").Finish(),
                ErrorCode::kInvalidInput);
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "evil"));
    ExpectError(
        TarBuilder().File("f", "x").Symlink("evil", target).Hardlink("evil/pwned", "f").Finish(),
        ErrorCode::kInvalidInput);
  }
}

TEST_F(RootfsTest, RefusesFileThroughSymlinkChain) {
  std::string tar = TarBuilder()
                        .Dir("d")
                        .Symlink("d/up", "..")
                        .Symlink("l1", "l2")
                        .Symlink("l2", "d/up/../outside")
                        .File("l1/pwned", "x")
                        .Finish();
  ExpectError(tar, ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().File("d/up/up/pwned", "x").Finish(), ErrorCode::kInvalidInput);
}

TEST_F(RootfsTest, RefusesHardLinksLeavingTheRoot) {
  ExpectError(TarBuilder().Hardlink("h", "../secret/file").Finish(), ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Hardlink("h", secret_ + "/file").Finish(), ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Hardlink("h", "/etc/passwd").Finish(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(Exists("h"));
}

TEST_F(RootfsTest, RefusesHardLinksToSymlinksDirectoriesAndMissingFiles) {
  ExpectError(TarBuilder().Symlink("s", secret_ + "/file").Hardlink("h", "s").Finish(),
              ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Symlink("s2", "../secret/file").Hardlink("h", "s2").Finish(),
              ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Symlink("sd", "../secret").Hardlink("h", "sd/file").Finish(),
              ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Dir("d").Hardlink("h", "d").Finish(), ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Hardlink("h", "missing").Finish(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(Exists("h"));
}

TEST_F(RootfsTest, RefusesDevicesFifos) {
  ExpectError(TarBuilder().CharDevice("dev/null", 1, 3).Finish(), ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().CharDevice("dev/mem", 1, 1).Finish(), ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().BlockDevice("dev/sda", 8, 0).Finish(), ErrorCode::kInvalidInput);
  ExpectError(TarBuilder().Fifo("run/fifo").Finish(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(Exists("dev/null"));
  EXPECT_FALSE(Exists("dev/mem"));
  EXPECT_FALSE(Exists("dev/sda"));
  EXPECT_FALSE(Exists("run/fifo"));
}

TEST_F(RootfsTest, ManyEntriesHitTheLimitFast) {
  constexpr std::uint64_t kTotal = 200'000;
  std::uint64_t made = 0;
  GeneratedSource source([&](std::string& out) {
    if (made == kTotal) {
      out.assign(1024, '\0');
      return false;
    }
    for (int i = 0; i < 64 && made < kTotal; ++i, ++made) {
      out += TarHeaderBlock(TarEntry{.name = "f" + std::to_string(made)});
    }
    return true;
  });
  auto start = std::chrono::steady_clock::now();
  auto result = ExtractTar(source, root_fd_.get(), ExtractOptions{});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ measured ] 200000-entry archive refused after " << seconds << " s\n";
  RecordProperty("seconds", std::to_string(seconds));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimit) << result.error().message();
  // It stopped at the limit instead of reading the rest.
  EXPECT_LT(source.produced(), (100'001 + 1024) * 512ULL);
  EXPECT_LT(seconds, 120.0);
}

TEST_F(RootfsTest, RefusesOverlongPaths) {
  std::string name;
  while (name.size() <= 4096) name += std::string(200, 'p') + "/";
  name += "f";
  TarEntry gnu{.name = name, .data = "x"};
  ExpectError(TarBuilder().Add(gnu).Finish(), ErrorCode::kLimit);
  TarEntry pax{.name = name, .data = "x", .long_names = LongNames::kPax};
  ExpectError(TarBuilder().Add(pax).Finish(), ErrorCode::kLimit);
  TarEntry link{.name = "l", .type = ::fogkeep::testing::kTarSymlink, .link_target = name};
  ExpectError(TarBuilder().Add(link).Finish(), ErrorCode::kLimit);
  // A single component longer than a file name can be.
  ExpectError(TarBuilder().File(std::string(300, 'n'), "x").Finish(), ErrorCode::kInvalidInput);
  EXPECT_EQ(Entries(root_), std::set<std::string>{});
}

// A gzip stream of a tar holding one 1 GiB file of zeros, compressed as it is read.
GeneratedSource ZeroBomb(std::uint64_t size, std::shared_ptr<GzipStream> gz) {
  auto sent = std::make_shared<std::uint64_t>(0);
  auto header_done = std::make_shared<bool>(false);
  return GeneratedSource([=](std::string& out) {
    static const std::string kZeros(1 << 20, '\0');
    while (out.empty()) {
      if (!*header_done) {
        gz->Write(TarHeaderBlock(TarEntry{.name = "zeros", .header_size = size}));
        *header_done = true;
      } else if (*sent < size) {
        std::uint64_t n = std::min<std::uint64_t>(kZeros.size(), size - *sent);
        gz->Write(std::string_view(kZeros).substr(0, n));
        *sent += n;
      } else {
        gz->Write(std::string(1024, '\0'));
        gz->Finish();
        out = gz->Take();
        return false;
      }
      out = gz->Take();
    }
    return true;
  });
}

TEST_F(RootfsTest, DecompressionBombFailsOnRatio) {
  auto gz = std::make_shared<GzipStream>();
  GeneratedSource source = ZeroBomb(1ULL << 30, gz);
  ExtractOptions options;
  options.compressed_consumed = [&] { return source.produced(); };
  auto start = std::chrono::steady_clock::now();
  auto result = ExtractTar(source, root_fd_.get(), options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimit) << result.error().message();
  EXPECT_NE(result.error().message().find("expands"), std::string::npos);
  // It stopped soon after the floor, long before a gigabyte.
  EXPECT_LT(Lstat("zeros").st_size, 64 << 20);
  EXPECT_LT(source.produced(), 1u << 20);
  EXPECT_LT(seconds, 60.0);
}

TEST_F(RootfsTest, DecompressionBombFailsOnAbsoluteLimit) {
  auto gz = std::make_shared<GzipStream>();
  GeneratedSource source = ZeroBomb(1ULL << 30, gz);
  ExtractOptions options;
  options.limits.max_total_bytes = 8 << 20;
  auto result = ExtractTar(source, root_fd_.get(), options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimit) << result.error().message();
  EXPECT_FALSE(Exists("zeros"));  // refused from its header, before any byte
}

TEST_F(RootfsTest, TotalSizeCountsEveryFile) {
  TarBuilder b;
  for (int i = 0; i < 10; ++i) b.File("f" + std::to_string(i), std::string(100 << 10, 'x'));
  ExtractOptions options;
  options.limits.max_total_bytes = 500 << 10;
  ExpectError(b.Finish(), ErrorCode::kLimit, options);
  EXPECT_FALSE(Exists("f5"));
}

TEST_F(RootfsTest, RatioCountsTheCallersCompressedBytes) {
  // The tar is plain here; the caller reports that it came out of 64 KiB of an outer gzip.
  std::string tar = TarBuilder().File("big", std::string(20 << 20, 'x')).Finish();
  ExtractOptions options;
  options.compressed_consumed = [] { return std::uint64_t{64 << 10}; };
  ExpectError(tar, ErrorCode::kLimit, options);
  // The same bytes with an honest count pass.
  ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "big"));
  options.compressed_consumed = [&] { return std::uint64_t{tar.size()}; };
  EXPECT_TRUE(Extract(tar, options));
}

TEST_F(RootfsTest, TruncatedArchivesFailClearly) {
  // Cut inside a header, inside data and inside padding. (A cut exactly between two entries is
  // a tar without its end marker, which readers accept; the package hashes catch that.)
  std::string tar = TarBuilder().File("a", std::string(3000, 'a')).File("b", "b").Finish();
  for (std::size_t cut : {100u, 512u, 700u, 2048u, 3550u, 3700u, 4097u}) {
    SCOPED_TRACE(cut);
    ExpectError(tar.substr(0, cut), ErrorCode::kInvalidInput);
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "a"));
    ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "b"));
  }
  std::string gz = Gzip(tar);
  ExpectError(gz.substr(0, gz.size() / 2), ErrorCode::kInvalidInput);
}

TEST_F(RootfsTest, HeaderSizeLies) {
  // Claims more data than the archive holds.
  TarEntry longer{.name = "a", .data = "short", .header_size = 1 << 20};
  ExpectError(TarBuilder().Add(longer).Finish(), ErrorCode::kInvalidInput);
  ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "a"));
  // Claims less: the rest of the data is then read as a header and fails its checksum.
  TarEntry shorter{.name = "b", .data = std::string(2048, 'z'), .header_size = 10};
  ExpectError(TarBuilder().Add(shorter).Finish(), ErrorCode::kInvalidInput);
  ASSERT_TRUE(fs::RemoveTreeAt(root_fd_.get(), "b"));
  // A negative size (base-256) and garbage in the size field.
  TarEntry negative{.name = "c", .raw_size_field = std::string(12, '\xff')};
  auto result = Extract(TarBuilder().Add(negative).Finish());
  ASSERT_FALSE(result);
  TarEntry garbage{.name = "d", .raw_size_field = "zzzzzzzzzzz"};
  result = Extract(TarBuilder().Add(garbage).Finish());
  if (result) {
    EXPECT_EQ(Lstat("d").st_size, 0);  // read as size 0, harmless
  }
  // A wrong checksum.
  TarEntry bad{.name = "e", .data = "x", .checksum = 1234};
  ExpectError(TarBuilder().Add(bad).Finish(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(Exists("e"));
}

TEST_F(RootfsTest, PaxHeadersWithHugeOrNegativeSizes) {
  TarEntry huge{.name = "huge", .data = "x"};
  huge.pax.emplace_back("size", "99999999999999999999999");
  auto result = Extract(TarBuilder().Add(huge).Finish());
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().code() == ErrorCode::kInvalidInput ||
              result.error().code() == ErrorCode::kLimit)
      << result.error().message();

  TarEntry big{.name = "big", .data = "x"};
  big.pax.emplace_back("size", std::to_string(1ULL << 50));
  ExpectError(TarBuilder().Add(big).Finish(), ErrorCode::kLimit);

  TarEntry negative{.name = "neg", .data = "x"};
  negative.pax.emplace_back("size", "-5");
  result = Extract(TarBuilder().Add(negative).Finish());
  ASSERT_FALSE(result);

  // An extended header larger than libarchive will hold in memory.
  TarEntry fat{.name = "fat", .data = "x"};
  fat.pax.emplace_back("comment", std::string(2 << 20, 'c'));
  ExpectError(TarBuilder().Add(fat).Finish(), ErrorCode::kInvalidInput);
  for (const char* name : {"huge", "big", "neg", "fat"}) EXPECT_FALSE(Exists(name)) << name;
}

TEST_F(RootfsTest, NotATarArchive) {
  ExpectError(std::string(4096, '\x42'), ErrorCode::kInvalidInput);
  ExpectError(Gzip("this is not a tar"), ErrorCode::kInvalidInput);
}

TEST_F(RootfsTest, EmptyArchiveExtractsNothing) {
  auto stats = Extract(TarBuilder().Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->entries, 0u);
}

TEST_F(RootfsTest, SourceErrorsKeepTheirCategory) {
  FailingSource source;
  auto result = ExtractTar(source, root_fd_.get(), ExtractOptions{});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message().find("connection reset"), std::string::npos);
}

}  // namespace
}  // namespace fogkeep::package
