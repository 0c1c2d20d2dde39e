// Reading a package: every member is checked and hashed while it streams, once.
//
// ScanPackage reads without writing anything and reports what it found (what `inspect`
// shows). VerifyPackage adds the verdict: every member matches the manifest, the verifier
// trusts the manifest, the descriptor is valid. VerifyAndExtract does the same and extracts
// the small members and the rootfs into a staging directory; when package.mf, package.sig
// and package.cert precede artifacts.tar.gz (as fogkeep writes them) the rootfs is extracted
// straight from the stream, otherwise artifacts.tar.gz is spooled into the staging directory
// first. On any failure the caller removes the staging directory; nothing is written
// outside it.
//
// Refused in the outer archive: members that are not regular files (directories, links,
// devices), names with '/' or that are absolute or "..", duplicates, members missing from or
// extra to the manifest, oversized members.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "package/descriptor.h"
#include "package/format.h"
#include "package/manifest.h"
#include "package/rootfs.h"
#include "package/stream.h"
#include "package/verifier.h"

namespace fogkeep::package {

struct MemberReport {
  std::string name;
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex
  std::string sha1;    // only computed for legacy manifests
  // Empty when the member is one of package.mf/.cert/.sig or matches its manifest entry;
  // otherwise what is wrong ("not listed in package.mf", "does not match package.mf").
  std::string problem;
};

struct PackageReport {
  std::vector<MemberReport> members;
  std::optional<Manifest> manifest;
  std::string manifest_error;        // why package.mf is unusable, when it is
  std::vector<std::string> missing;  // listed in the manifest but absent
  std::string descriptor_text;
  std::optional<Descriptor> descriptor;
  std::string descriptor_error;  // parse or validation failure
  std::string config;            // package_config.ini, if any
  SignedManifest signed_manifest;

  bool is_signed() const { return signed_manifest.certificate_pem || signed_manifest.signature; }
  // OK when the manifest is present and every member matches it exactly; otherwise
  // kIntegrity naming the first problem.
  Status CheckIntegrity() const;
};

// Reads every member and hashes it; writes nothing. Structural problems of the archive
// (not a tar, a directory member, a '..' name, duplicates, limits) are errors; manifest
// mismatches are reported in the PackageReport.
Result<PackageReport> ScanPackage(ByteSource& source, const PackageLimits& limits = {});

struct VerifiedPackage {
  PackageReport report;
  Verdict verdict;      // trusted
  ExtractStats rootfs;  // zero unless extracted
};

// ScanPackage + CheckIntegrity + the verifier's verdict + ValidateDescriptor.
Result<VerifiedPackage> VerifyPackage(ByteSource& source, const Verifier& verifier,
                                      const PackageLimits& limits = {});

// VerifyPackage, extracting into `staging_dir` (an existing empty directory): the small
// members as files, the rootfs under staging_dir/rootfs.
Result<VerifiedPackage> VerifyAndExtract(ByteSource& source, const Verifier& verifier,
                                         const std::string& staging_dir,
                                         const ExtractOptions& extract_options,
                                         const PackageLimits& limits = {});

}  // namespace fogkeep::package
