#include "package/builder.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "crypto/hash.h"
#include "package/format.h"
#include "package/manifest.h"
#include "package/tar_writer.h"

namespace fogkeep::package {
namespace {

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ParentDir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<std::string> HashFile(const std::string& path) {
  auto source = FK_TRY(FileSource::Open(path));
  crypto::Digest digest;
  auto buf = std::make_unique<char[]>(256 * 1024);
  while (std::size_t n = FK_TRY(source.Read(buf.get(), 256 * 1024))) digest.Update(buf.get(), n);
  return digest.HexFinal();
}

// Produces the rootfs tar from whichever source DIR holds; returns its path and a label.
Result<std::pair<std::string, std::string>> PrepareRootfs(const std::string& dir,
                                                          const Descriptor& descriptor,
                                                          const std::string& work) {
  std::string given = dir + "/" + descriptor.startup.rootfs;
  if (IsRegularFile(given)) return std::pair{given, descriptor.startup.rootfs};
  std::string tree;
  std::string label;
  if (IsDirectory(dir + "/rootfs")) {
    tree = dir + "/rootfs";
    label = "rootfs/ directory";
  } else if (IsDirectory(dir + "/image")) {
    tree = work + "/flattened";
    FK_TRY(fs::MakeDirs(tree, 0755));
    FK_TRY_CTX(FlattenOciLayout(dir + "/image", tree), "image/");
    label = "OCI image layout image/";
  } else {
    return Fail(ErrorCode::kNotFound, dir + " holds no rootfs: expected " +
                                          descriptor.startup.rootfs +
                                          ", a rootfs/ directory or an OCI image layout in image/");
  }
  std::string tar = work + "/rootfs.tar";
  auto writer = FK_TRY(TarWriter::Create(tar, Compression::kNone));
  FK_TRY_CTX(writer.AddTree(tree), label);
  FK_TRY(writer.Close());
  return std::pair{tar, label};
}

Result<BuildResult> Build(const std::string& dir, const std::string& output,
                          const std::string& work) {
  BuildResult result;
  std::string yaml = FK_TRY(fs::ReadFile(dir + "/package.yaml", 1 << 20));
  result.descriptor = FK_TRY_CTX(ParseDescriptor(yaml), "package.yaml");
  FK_TRY_CTX(ValidateDescriptor(result.descriptor), "package.yaml");

  auto [rootfs_tar, label] = FK_TRY(PrepareRootfs(dir, result.descriptor, work));
  result.rootfs_source = label;
  std::string artifacts = work + "/artifacts.tar.gz";
  {
    auto writer = FK_TRY(TarWriter::Create(artifacts, Compression::kGzip));
    FK_TRY(writer.AddFileFromPath(result.descriptor.startup.rootfs, rootfs_tar));
    FK_TRY(writer.Close());
  }

  std::optional<std::string> config;
  if (IsRegularFile(dir + "/package_config.ini")) {
    config = FK_TRY(fs::ReadFile(dir + "/package_config.ini", 1 << 20));
  }
  std::vector<ManifestEntry> entries{
      {std::string(kDescriptorMember), ManifestDigest::kSha256, crypto::Sha256Hex(yaml)},
      {std::string(kArtifactsMember), ManifestDigest::kSha256, FK_TRY(HashFile(artifacts))}};
  if (config) {
    entries.push_back(
        {std::string(kConfigMember), ManifestDigest::kSha256, crypto::Sha256Hex(*config)});
  }
  std::string manifest = FK_TRY(Manifest::FromEntries(std::move(entries))).Serialize();

  std::string tmp = work + "/package.tar";
  auto writer = FK_TRY(TarWriter::Create(tmp, Compression::kNone));
  FK_TRY(writer.AddFile(kManifestMember, manifest));
  FK_TRY(writer.AddFile(kDescriptorMember, yaml));
  if (config) FK_TRY(writer.AddFile(kConfigMember, *config));
  FK_TRY(writer.AddFileFromPath(kArtifactsMember, artifacts));
  FK_TRY(writer.Close());
  struct stat st {};
  if (::stat(tmp.c_str(), &st) == 0) result.package_bytes = static_cast<std::uint64_t>(st.st_size);
  FK_TRY(fs::CommitFile(tmp, output));
  return result;
}

}  // namespace

Result<BuildResult> BuildPackage(const std::string& dir, const std::string& output) {
  // Work next to the output, so the final rename stays on one file system.
  std::string work = FK_TRY(fs::MakeTempDir(ParentDir(output), ".fogkeep-build-"));
  auto result = Build(dir, output, work);
  (void)fs::RemoveTree(work);
  if (!result) return Fail(result.error().With("build " + dir));
  return result;
}

}  // namespace fogkeep::package
