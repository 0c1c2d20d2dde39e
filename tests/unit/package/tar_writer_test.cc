#include "package/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "package/rootfs.h"
#include "support/support.h"

namespace fogkeep::package {
namespace {

using ::fogkeep::testing::TempDir;

void Write(const std::string& path, std::string_view data, mode_t mode = 0644) {
  ASSERT_TRUE(fs::WriteFileAtomic(path, data, mode));
}

// A tree with every kind of member AddTree supports, created in the given name order.
void MakeTree(const std::string& dir, bool reverse) {
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  std::vector<std::string> names = {"a", "b", "c", "d", "e", "f", "g", "h"};
  if (reverse) std::reverse(names.begin(), names.end());
  for (const auto& n : names) Write(dir + "/" + n + ".txt", "file " + n);
  ASSERT_TRUE(fs::MakeDirs(dir + "/bin"));
  ASSERT_TRUE(fs::MakeDirs(dir + "/etc/private"));
  ASSERT_EQ(::chmod((dir + "/etc/private").c_str(), 0700), 0);
  Write(dir + "/bin/busybox", std::string(200 << 10, 'b'), 0755);  // several 64 KiB chunks
  Write(dir + "/etc/empty", "");
  Write(dir + "/etc/caf\xc3\xa9", "utf-8 name");
  Write(dir + "/etc/private/key", "k", 0600);
  ASSERT_EQ(::symlink("/bin/busybox", (dir + "/bin/sh").c_str()), 0);
  ASSERT_EQ(::symlink("../etc/empty", (dir + "/bin/rel").c_str()), 0);
  ASSERT_EQ(::link((dir + "/bin/busybox").c_str(), (dir + "/bin/ls").c_str()), 0);
  ASSERT_TRUE(fs::MakeDirs(dir + "/" + std::string(120, 'l')));  // needs a pax record
  Write(dir + "/" + std::string(120, 'l') + "/" + std::string(90, 'm'), "long");
}

struct Node {
  mode_t mode;
  std::string content;  // file content or link target
  bool operator==(const Node&) const = default;
};

std::map<std::string, Node> Snapshot(const std::string& dir) {
  std::map<std::string, Node> out;
  auto st = fs::Walk(dir, [&](const std::string& rel, const struct stat& s) -> Status {
    Node node{s.st_mode, ""};
    std::string path = dir + "/" + rel;
    if (S_ISREG(s.st_mode)) node.content = *fs::ReadFile(path);
    if (S_ISLNK(s.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
      node.content.assign(buf, static_cast<std::size_t>(n));
    }
    out[rel] = node;
    return {};
  });
  EXPECT_TRUE(st) << st.error().message();
  return out;
}

Status WriteTree(const std::string& dir, const std::string& out, Compression compression) {
  auto writer = FK_TRY(TarWriter::Create(out, compression));
  FK_TRY(writer.AddTree(dir));
  return writer.Close();
}

struct Member {
  std::string name;
  mode_t type;
  la_int64_t uid, gid, mtime;
  std::string uname, hardlink;
};

std::vector<Member> ListMembers(const std::string& path) {
  std::vector<Member> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_filter_gzip(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    out.push_back({archive_entry_pathname(e), archive_entry_filetype(e), archive_entry_uid(e),
                   archive_entry_gid(e), archive_entry_mtime(e),
                   archive_entry_uname(e) ? archive_entry_uname(e) : "",
                   archive_entry_hardlink(e) ? archive_entry_hardlink(e) : ""});
  }
  archive_read_free(a);
  return out;
}

TEST(TarWriterTest, TreeRoundTripsThroughExtractTar) {
  TempDir tmp;
  MakeTree(tmp / "src", false);
  for (Compression compression : {Compression::kNone, Compression::kGzip}) {
    SCOPED_TRACE(compression == Compression::kGzip ? "gzip" : "plain");
    std::string tar = tmp / (compression == Compression::kGzip ? "t.tar.gz" : "t.tar");
    ASSERT_TRUE(WriteTree(tmp / "src", tar, compression));
    std::string dest = tmp / ("dest" + std::to_string(static_cast<int>(compression)));
    ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
    auto root = fs::OpenDir(dest);
    auto source = FileSource::Open(tar);
    ASSERT_TRUE(source);
    auto stats = ExtractTar(*source, root->get(), ExtractOptions{});
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(Snapshot(tmp / "src"), Snapshot(dest));
    struct stat a {
    }, b{};
    ASSERT_EQ(::lstat((dest + "/bin/busybox").c_str(), &a), 0);
    ASSERT_EQ(::lstat((dest + "/bin/ls").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);  // the hard link stayed a hard link
  }
  int gzip_status = std::system(("gzip -t " + (tmp / "t.tar.gz")).c_str());
  EXPECT_EQ(gzip_status, 0) << "the gzip stream has trailing bytes or is broken";
}

TEST(TarWriterTest, OutputIsDeterministic) {
  TempDir tmp;
  MakeTree(tmp / "one", false);
  MakeTree(tmp / "two", true);  // other creation order, hence other readdir order
  // Other times and owners must not show either.
  struct timeval times[2] = {{1000, 0}, {2000, 0}};
  ASSERT_EQ(::utimes((tmp / "two/a.txt").c_str(), times), 0);
  if (::geteuid() == 0) {
    ASSERT_EQ(::lchown((tmp / "two/bin/sh").c_str(), 1234, 5678), 0);
  }
  for (Compression compression : {Compression::kNone, Compression::kGzip}) {
    ASSERT_TRUE(WriteTree(tmp / "one", tmp / "1.tar", compression));
    ::sleep(1);  // a timestamp in any header would now differ
    ASSERT_TRUE(WriteTree(tmp / "two", tmp / "2.tar", compression));
    auto first = fs::ReadFile(tmp / "1.tar");
    auto second = fs::ReadFile(tmp / "2.tar");
    ASSERT_TRUE(first && second);
    EXPECT_TRUE(*first == *second) << "archives of the same tree differ";
  }
  auto members = ListMembers(tmp / "1.tar");
  ASSERT_FALSE(members.empty());
  std::vector<std::string> names;
  for (const auto& m : members) {
    names.push_back(m.name);
    EXPECT_EQ(m.uid, 0);
    EXPECT_EQ(m.gid, 0);
    EXPECT_EQ(m.mtime, 0);
    EXPECT_EQ(m.uname, "root");
    if (m.name == "bin/ls") {
      EXPECT_EQ(m.hardlink, "bin/busybox");
    }
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(TarWriterTest, RefusesFifosAndSockets) {
  TempDir tmp;
  ASSERT_TRUE(fs::MakeDirs(tmp / "tree/run"));
  Write(tmp / "tree/ok", "ok");
  ASSERT_EQ(::mkfifo((tmp / "tree/run/fifo").c_str(), 0644), 0);
  auto writer = TarWriter::Create(tmp / "out.tar", Compression::kNone);
  ASSERT_TRUE(writer);
  auto status = writer->AddTree(tmp / "tree");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(status.error().message().find("FIFO"), std::string::npos) << status.error().message();
}

TEST(TarWriterTest, AddFileAndAddFileFromPath) {
  TempDir tmp;
  std::string big(300'000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  Write(tmp / "big.bin", big);
  {
    auto writer = TarWriter::Create(tmp / "pkg.tar", Compression::kNone);
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->AddFile("package.yaml", "name: x\n"));
    ASSERT_TRUE(writer->AddFile("./bin/run.sh", "#!/bin/sh\n", 0755));
    ASSERT_TRUE(writer->AddFileFromPath("artifacts.tar.gz", tmp / "big.bin"));
    EXPECT_EQ(writer->AddFile("../escape", "x").error().code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(writer->AddFile("/abs", "x").error().code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(writer->AddFileFromPath("dir", tmp.path()).error().code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(writer->AddFileFromPath("missing", tmp / "missing").error().code(),
              ErrorCode::kNotFound);
    ASSERT_TRUE(writer->Close());
    EXPECT_FALSE(writer->Close());
  }
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "pkg.tar").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_EQ(::mkdir((tmp / "x").c_str(), 0755), 0);
  auto root = fs::OpenDir(tmp / "x");
  auto source = FileSource::Open(tmp / "pkg.tar");
  auto stats = ExtractTar(*source, root->get(), ExtractOptions{});
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->entries, 3u);
  EXPECT_EQ(*fs::ReadFile(tmp / "x/package.yaml"), "name: x\n");
  EXPECT_EQ(*fs::ReadFile(tmp / "x/artifacts.tar.gz"), big);
  ASSERT_EQ(::stat((tmp / "x/bin/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST(TarWriterTest, AddFileFromSourceStreamsExactlyTheGivenSize) {
  TempDir tmp;
  std::string data(200'000, 'd');
  std::string more = data + "trailing bytes that belong to someone else";
  auto writer = TarWriter::Create(tmp / "s.tar", Compression::kGzip);
  ASSERT_TRUE(writer);
  MemorySource source(more);
  ASSERT_TRUE(writer->AddFileFromSource("member", data.size(), source, 0600));
  char rest[64];
  EXPECT_EQ(*source.Read(rest, sizeof(rest)), more.size() - data.size());
  ASSERT_TRUE(writer->Close());
  ASSERT_EQ(::mkdir((tmp / "x").c_str(), 0755), 0);
  auto root = fs::OpenDir(tmp / "x");
  auto file = FileSource::Open(tmp / "s.tar");
  ASSERT_TRUE(ExtractTar(*file, root->get(), ExtractOptions{}));
  EXPECT_EQ(*fs::ReadFile(tmp / "x/member"), data);
}

TEST(TarWriterTest, ShortSourceFailsAndLeavesNoCompleteArchive) {
  TempDir tmp;
  {
    auto writer = TarWriter::Create(tmp / "short.tar", Compression::kNone);
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->AddFile("first", "1"));
    MemorySource source("only this");
    auto status = writer->AddFileFromSource("member", 1000, source);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidInput) << status.error().message();
    EXPECT_FALSE(writer->AddFile("after", "x"));
  }  // destroyed without Close()
  // Whatever reached the file is not a complete archive.
  ASSERT_EQ(::mkdir((tmp / "x").c_str(), 0755), 0);
  auto root = fs::OpenDir(tmp / "x");
  auto file = FileSource::Open(tmp / "short.tar");
  EXPECT_FALSE(ExtractTar(*file, root->get(), ExtractOptions{}));
}

TEST(TarWriterTest, CreateFailsCleanlyForAnUnwritablePath) {
  TempDir tmp;
  auto writer = TarWriter::Create(tmp / "no/such/dir/out.tar", Compression::kGzip);
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code(), ErrorCode::kNotFound);
}

TEST(TarWriterTest, MovedWriterKeepsWorking) {
  TempDir tmp;
  auto created = TarWriter::Create(tmp / "m.tar", Compression::kNone);
  ASSERT_TRUE(created);
  TarWriter writer = std::move(*created);
  ASSERT_TRUE(writer.AddFile("a", "1"));
  TarWriter other = std::move(writer);
  ASSERT_TRUE(other.AddFile("b", "2"));
  ASSERT_TRUE(other.Close());
  auto members = ListMembers(tmp / "m.tar");
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].name, "b");
}

}  // namespace
}  // namespace fogkeep::package
