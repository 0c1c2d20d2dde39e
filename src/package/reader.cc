#include "package/reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <set>

#include "core/fs.h"
#include "crypto/hash.h"
#include "package/archive_reader.h"

namespace fogkeep::package {
namespace {

constexpr std::size_t kChunk = 256 * 1024;
constexpr std::string_view kSpoolName = ".artifacts.spool";
constexpr std::string_view kRootfsDir = "rootfs";

// Passes bytes through while hashing and counting them, refusing more than `limit`.
class HashingSource : public ByteSource {
 public:
  HashingSource(ByteSource& inner, bool sha1, std::uint64_t limit, std::string what)
      : inner_(inner), limit_(limit), what_(std::move(what)) {
    if (sha1) sha1_.emplace(crypto::DigestAlgorithm::kSha1);
  }
  Result<std::size_t> Read(char* buf, std::size_t size) override {
    std::size_t n = FK_TRY(inner_.Read(buf, size));
    bytes_ += n;
    if (bytes_ > limit_) {
      return Fail(ErrorCode::kLimit,
                  what_ + " is larger than the limit of " + std::to_string(limit_) + " bytes");
    }
    sha256_.Update(buf, n);
    if (sha1_) sha1_->Update(buf, n);
    return n;
  }
  // Reads what is left, so the digests cover the whole stream.
  Status Drain() {
    auto buf = std::make_unique<char[]>(kChunk);
    while (FK_TRY(Read(buf.get(), kChunk)) > 0) {
    }
    return {};
  }
  std::uint64_t bytes() const { return bytes_; }
  std::string Sha256Hex() { return sha256_.HexFinal(); }
  std::string Sha1Hex() { return sha1_ ? sha1_->HexFinal() : std::string(); }

 private:
  ByteSource& inner_;
  std::uint64_t limit_;
  std::string what_;
  std::uint64_t bytes_ = 0;
  crypto::Digest sha256_;
  std::optional<crypto::Digest> sha1_;
};

// Finds the rootfs member named by the descriptor in artifacts.tar.gz and extracts it under
// `rootfs_dirfd`. Other artifact members are read past (they are still hashed by the caller).
Result<ExtractStats> ExtractArtifacts(ByteSource& artifacts, const std::string& rootfs_member,
                                      int rootfs_dirfd, const ExtractOptions& options) {
  auto reader = FK_TRY_CTX(ArchiveReader::Open(artifacts), "artifacts.tar.gz");
  std::optional<ExtractStats> stats;
  while (auto header = FK_TRY_CTX(reader->Next(), "artifacts.tar.gz")) {
    auto name = fs::CleanRelativePath(header->path);
    if (!name || *name != rootfs_member) continue;
    if (header->type != EntryType::kFile) {
      return Fail(ErrorCode::kInvalidInput, "artifacts.tar.gz: rootfs '" + rootfs_member +
                                                "' is a " +
                                                std::string(EntryTypeName(header->type)));
    }
    if (stats) {
      return Fail(ErrorCode::kInvalidInput,
                  "artifacts.tar.gz holds rootfs '" + rootfs_member + "' twice");
    }
    ExtractOptions inner = options;
    ArchiveReader* outer = reader.get();
    inner.compressed_consumed = [outer] { return outer->compressed_bytes(); };
    EntrySource entry(*reader);
    stats = FK_TRY_CTX(ExtractTar(entry, rootfs_dirfd, inner), "rootfs '" + rootfs_member + "'");
  }
  if (!stats) {
    return Fail(ErrorCode::kInvalidInput, "artifacts.tar.gz has no rootfs '" + rootfs_member + "'");
  }
  return *stats;
}

std::string ProblemFor(const Manifest& manifest, const MemberReport& member) {
  if (IsSignatureMember(member.name)) return {};
  const ManifestEntry* entry = manifest.Find(member.name);
  if (entry == nullptr) return "not listed in package.mf";
  const std::string& actual = entry->digest == ManifestDigest::kSha1 ? member.sha1 : member.sha256;
  if (!crypto::ConstantTimeEquals(actual, entry->hex)) return "does not match package.mf";
  return {};
}

class PackageReading {
 public:
  PackageReading(const PackageLimits& limits, const Verifier* verifier, const std::string* staging,
                 const ExtractOptions* extract)
      : limits_(limits), verifier_(verifier), staging_(staging), extract_(extract) {}

  Result<VerifiedPackage> Run(ByteSource& source) {
    HashingSource counted(source, false, limits_.max_package_bytes, "package");
    auto reader = FK_TRY(ArchiveReader::Open(counted));
    std::set<std::string> seen;
    while (auto header = FK_TRY(reader->Next())) {
      if (seen.size() >= limits_.max_members) {
        return Fail(ErrorCode::kLimit,
                    "package has more than " + std::to_string(limits_.max_members) + " members");
      }
      std::string name = FK_TRY(CheckMemberHeader(*header));
      if (!seen.insert(name).second) {
        return Fail(ErrorCode::kInvalidInput, "duplicate member '" + name + "'");
      }
      EntrySource entry(*reader);
      FK_TRY_CTX(ReadMember(name, entry), name);
      if (reader->uncompressed_bytes() > limits_.max_package_bytes) {
        return Fail(ErrorCode::kLimit, "package expands beyond " +
                                           std::to_string(limits_.max_package_bytes) + " bytes");
      }
    }
    Finish();
    if (verifier_ == nullptr) return std::move(result_);

    FK_TRY(result_.report.CheckIntegrity());
    if (!verdict_) verdict_ = verifier_->Verify(result_.report.signed_manifest);
    if (!verdict_->trusted) return Fail(ErrorCode::kIntegrity, verdict_->reason);
    result_.verdict = *verdict_;
    if (!result_.report.descriptor_error.empty()) {
      return Fail(ErrorCode::kInvalidInput, "package.yaml: " + result_.report.descriptor_error);
    }
    if (!seen.contains(std::string(kArtifactsMember))) {
      return Fail(ErrorCode::kInvalidInput, "package has no artifacts.tar.gz");
    }
    if (staging_ != nullptr && spooled_) {
      std::string spool = *staging_ + "/" + std::string(kSpoolName);
      auto file = FK_TRY(FileSource::Open(spool));
      result_.rootfs = FK_TRY(ExtractRootfs(file));
      if (::unlink(spool.c_str()) != 0) return FailErrno("unlink " + spool, errno);
    }
    return std::move(result_);
  }

 private:
  Result<std::string> CheckMemberHeader(const EntryHeader& header) {
    if (header.type != EntryType::kFile) {
      return Fail(ErrorCode::kInvalidInput, "member '" + header.path + "' is a " +
                                                std::string(EntryTypeName(header.type)) +
                                                "; a package holds only regular files");
    }
    auto name = fs::CleanRelativePath(header.path, 255);
    if (!name) return Fail(name.error().With("member '" + header.path + "'"));
    if (name->find('/') != std::string::npos) {
      return Fail(ErrorCode::kInvalidInput,
                  "member '" + header.path + "' is not at the root of the package");
    }
    std::uint64_t limit =
        *name == kArtifactsMember ? limits_.max_artifacts_bytes : limits_.max_small_member_bytes;
    if (static_cast<std::uint64_t>(header.size) > limit) {
      return Fail(ErrorCode::kLimit, "member '" + *name + "' is larger than the limit of " +
                                         std::to_string(limit) + " bytes");
    }
    return *name;
  }

  bool WantSha1() const {
    // SHA-1 is only needed for legacy IOx manifests; unknown until package.mf is read.
    return !manifest_text_ || manifest_text_->starts_with("SHA1(");
  }

  Status ReadMember(const std::string& name, ByteSource& entry) {
    bool artifacts = name == kArtifactsMember;
    HashingSource hashed(entry, WantSha1(),
                         artifacts ? limits_.max_artifacts_bytes : limits_.max_small_member_bytes,
                         "member '" + name + "'");
    if (artifacts) {
      if (staging_ == nullptr) {
        FK_TRY(hashed.Drain());
      } else if (CanStreamRootfs()) {
        result_.rootfs = FK_TRY(ExtractRootfs(hashed));
        FK_TRY(hashed.Drain());
      } else {
        FK_TRY(Spool(hashed));
      }
    } else {
      std::string data;
      auto buf = std::make_unique<char[]>(kChunk);
      while (std::size_t n = FK_TRY(hashed.Read(buf.get(), kChunk))) data.append(buf.get(), n);
      FK_TRY(KeepSmallMember(name, std::move(data)));
    }
    result_.report.members.push_back(
        MemberReport{name, hashed.bytes(), hashed.Sha256Hex(), hashed.Sha1Hex(), {}});
    if (staging_ != nullptr && !verdict_) FK_TRY(TryEarlyVerdict());
    return {};
  }

  Status KeepSmallMember(const std::string& name, std::string data) {
    PackageReport& r = result_.report;
    bool known = true;
    if (name == kDescriptorMember) {
      r.descriptor_text = data;
    } else if (name == kManifestMember) {
      manifest_text_ = data;
      r.signed_manifest.manifest = data;
    } else if (name == kCertificateMember) {
      r.signed_manifest.certificate_pem = data;
    } else if (name == kSignatureMember) {
      r.signed_manifest.signature = data;
    } else if (name == kConfigMember) {
      r.config = data;
    } else {
      known = false;  // hashed and reported, never written
    }
    if (known && staging_ != nullptr) {
      FK_TRY(fs::WriteFileAtomic(*staging_ + "/" + name, data, 0644));
    }
    return {};
  }

  // Once package.mf, package.sig and package.cert are in, the trust decision can be made
  // before artifacts.tar.gz arrives; an untrusted package is refused before extraction.
  Status TryEarlyVerdict() {
    const SignedManifest& sm = result_.report.signed_manifest;
    if (!manifest_text_ || !sm.certificate_pem || !sm.signature) return {};
    result_.report.signed_manifest.legacy = manifest_text_->starts_with("SHA1(");
    verdict_ = verifier_->Verify(result_.report.signed_manifest);
    if (!verdict_->trusted) return Fail(ErrorCode::kIntegrity, verdict_->reason);
    return {};
  }

  // The rootfs may be extracted from the stream only when the signature is already trusted
  // and the descriptor, which names the rootfs, matches the trusted manifest.
  bool CanStreamRootfs() {
    if (!verdict_ || !verdict_->trusted || result_.report.descriptor_text.empty()) return false;
    auto manifest = Manifest::Parse(*manifest_text_);
    if (!manifest) return false;
    const MemberReport* yaml = FindMember(kDescriptorMember);
    if (yaml == nullptr || !ProblemFor(*manifest, *yaml).empty()) return false;
    auto descriptor = ParseDescriptor(result_.report.descriptor_text);
    return descriptor && ValidateDescriptor(*descriptor);
  }

  const MemberReport* FindMember(std::string_view name) const {
    for (const auto& m : result_.report.members) {
      if (m.name == name) return &m;
    }
    return nullptr;
  }

  Status Spool(HashingSource& hashed) {
    std::string path = *staging_ + "/" + std::string(kSpoolName);
    fs::UniqueFd fd(
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return FailErrno("create " + path, errno);
    auto buf = std::make_unique<char[]>(kChunk);
    while (std::size_t n = FK_TRY(hashed.Read(buf.get(), kChunk))) {
      for (std::size_t off = 0; off < n;) {
        ssize_t w = ::write(fd.get(), buf.get() + off, n - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          return FailErrno("write " + path, errno);
        }
        off += static_cast<std::size_t>(w);
      }
    }
    spooled_ = true;
    return {};
  }

  Result<ExtractStats> ExtractRootfs(ByteSource& artifacts) {
    auto descriptor = FK_TRY_CTX(ParseDescriptor(result_.report.descriptor_text), "package.yaml");
    std::string dir = *staging_ + "/" + std::string(kRootfsDir);
    if (::mkdir(dir.c_str(), 0755) != 0) return FailErrno("mkdir " + dir, errno);
    auto fd = FK_TRY(fs::OpenDir(dir));
    ExtractOptions options = *extract_;
    options.limits = limits_.rootfs;
    return ExtractArtifacts(artifacts, descriptor.startup.rootfs, fd.get(), options);
  }

  void Finish() {
    PackageReport& r = result_.report;
    if (manifest_text_) {
      auto manifest = Manifest::Parse(*manifest_text_);
      if (manifest) {
        r.manifest = std::move(*manifest);
        r.signed_manifest.legacy = r.manifest->legacy();
      } else {
        r.manifest_error = manifest.error().message();
      }
    } else {
      r.manifest_error = "package.mf is missing";
    }
    if (r.manifest) {
      for (auto& member : r.members) member.problem = ProblemFor(*r.manifest, member);
      for (const auto& entry : r.manifest->entries()) {
        if (FindMember(entry.name) == nullptr) r.missing.push_back(entry.name);
      }
    }
    if (FindMember(kDescriptorMember) == nullptr) {
      r.descriptor_error = "package.yaml is missing";
      return;
    }
    auto descriptor = ParseDescriptor(r.descriptor_text);
    if (!descriptor) {
      r.descriptor_error = descriptor.error().message();
      return;
    }
    r.descriptor = std::move(*descriptor);
    if (auto valid = ValidateDescriptor(*r.descriptor); !valid) {
      r.descriptor_error = valid.error().message();
    }
  }

  const PackageLimits& limits_;
  const Verifier* verifier_;
  const std::string* staging_;
  const ExtractOptions* extract_;
  VerifiedPackage result_;
  std::optional<std::string> manifest_text_;
  std::optional<Verdict> verdict_;
  bool spooled_ = false;
};

}  // namespace

Status PackageReport::CheckIntegrity() const {
  if (!manifest) return Fail(ErrorCode::kIntegrity, manifest_error);
  for (const auto& member : members) {
    if (!member.problem.empty()) {
      return Fail(ErrorCode::kIntegrity, member.name + " " + member.problem);
    }
  }
  if (!missing.empty()) {
    return Fail(ErrorCode::kIntegrity,
                "package.mf lists " + missing.front() + ", which is missing");
  }
  return {};
}

Result<PackageReport> ScanPackage(ByteSource& source, const PackageLimits& limits) {
  auto result = FK_TRY(PackageReading(limits, nullptr, nullptr, nullptr).Run(source));
  return std::move(result.report);
}

Result<VerifiedPackage> VerifyPackage(ByteSource& source, const Verifier& verifier,
                                      const PackageLimits& limits) {
  return PackageReading(limits, &verifier, nullptr, nullptr).Run(source);
}

Result<VerifiedPackage> VerifyAndExtract(ByteSource& source, const Verifier& verifier,
                                         const std::string& staging_dir,
                                         const ExtractOptions& extract_options,
                                         const PackageLimits& limits) {
  return PackageReading(limits, &verifier, &staging_dir, &extract_options).Run(source);
}

}  // namespace fogkeep::package
