#include "package/signer.h"

#include <sys/stat.h>

#include "core/fs.h"
#include "crypto/hash.h"
#include "package/archive_reader.h"
#include "package/format.h"
#include "package/manifest.h"
#include "package/reader.h"
#include "package/tar_writer.h"

namespace fogkeep::package {
namespace {

// Hashes what passes through, so the copy can be checked against the first pass.
class DigestingSource : public ByteSource {
 public:
  explicit DigestingSource(ByteSource& inner) : inner_(inner) {}
  Result<std::size_t> Read(char* buf, std::size_t size) override {
    std::size_t n = FK_TRY(inner_.Read(buf, size));
    digest_.Update(buf, n);
    return n;
  }
  std::string HexFinal() { return digest_.HexFinal(); }

 private:
  ByteSource& inner_;
  crypto::Digest digest_;
};

Status CheckIdentity(const SigningIdentity& identity) {
  if (identity.key.Public().Fingerprint() != identity.certificate.Key().Fingerprint()) {
    return Fail(ErrorCode::kInvalidInput, "the signing key does not belong to the certificate " +
                                              identity.certificate.Subject());
  }
  if (!identity.certificate.HasExtendedKeyUsage(crypto::ExtendedKeyUsage::kCodeSigning)) {
    return Fail(ErrorCode::kInvalidInput, "certificate " + identity.certificate.Subject() +
                                              " lacks the codeSigning extended key usage");
  }
  return {};
}

}  // namespace

Status SignPackage(const std::string& input, const SigningIdentity& identity,
                   const std::string& output) {
  FK_TRY(CheckIdentity(identity));
  auto first = FK_TRY(FileSource::Open(input));
  PackageReport report = FK_TRY_CTX(ScanPackage(first), input);
  if (report.manifest) FK_TRY_CTX(report.CheckIntegrity(), input);
  if (!report.descriptor) {
    return Fail(ErrorCode::kInvalidInput, input + ": package.yaml: " + report.descriptor_error);
  }

  std::vector<ManifestEntry> entries;
  for (const auto& member : report.members) {
    if (!IsSignatureMember(member.name)) {
      entries.push_back({member.name, ManifestDigest::kSha256, member.sha256});
    }
  }
  std::string manifest = FK_TRY(Manifest::FromEntries(std::move(entries))).Serialize();
  std::string signature = crypto::Base64Encode(FK_TRY(identity.key.Sign(manifest))) + "\n";
  std::string chain = identity.certificate.ToPem();
  for (const auto& cert : identity.intermediates) chain += cert.ToPem();

  std::string tmp = output + ".tmp";
  auto writer = FK_TRY(TarWriter::Create(tmp, Compression::kNone));
  auto fail = [&](Error e) -> Status {
    (void)fs::RemoveTree(tmp);
    return Fail(std::move(e));
  };
  for (auto [name, data] : {std::pair{kManifestMember, std::string_view(manifest)},
                            std::pair{kSignatureMember, std::string_view(signature)},
                            std::pair{kCertificateMember, std::string_view(chain)}}) {
    if (auto st = writer.AddFile(name, data); !st) return fail(st.error());
  }
  auto second = FK_TRY(FileSource::Open(input));
  auto reader = FK_TRY(ArchiveReader::Open(second));
  std::size_t index = 0;
  while (true) {
    auto header = reader->Next();
    if (!header) return fail(header.error().With(input));
    if (!*header) break;
    if (index >= report.members.size())
      return fail(Error(ErrorCode::kConflict, input + " changed while signing"));
    const MemberReport& member = report.members[index++];
    if (IsSignatureMember(member.name)) continue;
    EntrySource entry(*reader);
    DigestingSource digesting(entry);
    if (auto st = writer.AddFileFromSource(member.name, member.size, digesting); !st) {
      return fail(st.error().With(member.name));
    }
    if (digesting.HexFinal() != member.sha256) {
      return fail(Error(ErrorCode::kConflict, input + " changed while signing"));
    }
  }
  if (auto st = writer.Close(); !st) return fail(st.error());
  if (auto st = fs::CommitFile(tmp, output); !st) return fail(st.error());
  return {};
}

}  // namespace fogkeep::package
