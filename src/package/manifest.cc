#include "package/manifest.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

namespace fogkeep::package {
namespace {

// A package has a handful of members; a thousand lines is generous and bounds the work.
constexpr std::size_t kMaxLines = 1000;
constexpr std::size_t kMaxNameLength = 255;  // NAME_MAX

struct Algorithm {
  std::string_view prefix;  // "SHA256("
  ManifestDigest digest;
  std::size_t hex_length;
};
constexpr Algorithm kAlgorithms[] = {
    {"SHA256(", ManifestDigest::kSha256, 64},
    {"SHA1(", ManifestDigest::kSha1, 40},
};
constexpr std::string_view kSeparator = ")= ";

const Algorithm& AlgorithmOf(ManifestDigest digest) {
  return digest == ManifestDigest::kSha256 ? kAlgorithms[0] : kAlgorithms[1];
}

std::string LinePrefix(std::size_t line) { return "line " + std::to_string(line) + ": "; }

// Why `name` cannot be a manifest entry, or empty when it can. Names are single printable
// ASCII path components without spaces: that keeps the line syntax unambiguous and matches
// what the archive reader accepts as a member.
std::string NameProblem(std::string_view name) {
  if (name.empty()) return "empty member name";
  if (name.size() > kMaxNameLength) {
    return "member name longer than " + std::to_string(kMaxNameLength) + " bytes";
  }
  // Printability first: the messages below quote the name.
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return "member name contains a space, control or non-ASCII character";
    }
  }
  if (name.find('/') != std::string_view::npos) {
    return "member name '" + std::string(name) + "' contains '/'";
  }
  if (name == "." || name == "..") return "member name '" + std::string(name) + "' is not a file";
  if (name == "package.mf" || name == "package.cert" || name == "package.sig") {
    return "'" + std::string(name) + "' is never listed in the manifest";
  }
  return {};
}

bool IsLowerHex(std::string_view hex, std::size_t length) {
  return hex.size() == length && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string DigestProblem(const Algorithm& algorithm, std::string_view hex) {
  if (IsLowerHex(hex, algorithm.hex_length)) return {};
  std::string expected = std::to_string(algorithm.hex_length) + " lowercase hex digits";
  if (!hex.empty() && (hex.front() == ' ' || hex.back() == ' ')) {
    return "extra space around the digest (expected exactly one space after ')=', then " +
           expected + ")";
  }
  return "digest must be " + expected;
}

// Parses one line (without its "\n") into an entry.
Result<ManifestEntry> ParseLine(std::string_view line, std::size_t line_no) {
  if (line.empty()) return Fail(ErrorCode::kInvalidInput, LinePrefix(line_no) + "empty line");
  if (line.find('\r') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidInput,
                LinePrefix(line_no) + "carriage return (CRLF line endings are not allowed)");
  }
  const Algorithm* algorithm = nullptr;
  for (const Algorithm& candidate : kAlgorithms) {
    if (line.starts_with(candidate.prefix)) algorithm = &candidate;
  }
  if (algorithm == nullptr) {
    return Fail(ErrorCode::kInvalidInput,
                LinePrefix(line_no) + "expected 'SHA256(<name>)= <64 lowercase hex>'");
  }
  // The digest never contains ")= ", so the last one ends the name.
  std::size_t separator = line.rfind(kSeparator);
  if (separator == std::string_view::npos || separator < algorithm->prefix.size()) {
    return Fail(ErrorCode::kInvalidInput,
                LinePrefix(line_no) + "expected ')= ' (one space) after the member name");
  }
  ManifestEntry entry;
  entry.digest = algorithm->digest;
  entry.name = line.substr(algorithm->prefix.size(), separator - algorithm->prefix.size());
  entry.hex = line.substr(separator + kSeparator.size());
  if (auto problem = NameProblem(entry.name); !problem.empty()) {
    return Fail(ErrorCode::kInvalidInput, LinePrefix(line_no) + problem);
  }
  if (auto problem = DigestProblem(*algorithm, entry.hex); !problem.empty()) {
    return Fail(ErrorCode::kInvalidInput, LinePrefix(line_no) + "'" + entry.name + "': " + problem);
  }
  return entry;
}

}  // namespace

Result<Manifest> Manifest::Parse(std::string_view text) {
  if (text.size() > kMaxBytes) {
    return Fail(ErrorCode::kLimit, "manifest larger than " + std::to_string(kMaxBytes) + " bytes");
  }
  Manifest manifest;
  std::set<std::string> legacy_names;  // SHA1 manifests need not be sorted; SHA256 ones are
  std::size_t line_no = 0;
  while (!text.empty()) {
    if (++line_no > kMaxLines) {
      return Fail(ErrorCode::kLimit,
                  "manifest has more than " + std::to_string(kMaxLines) + " lines");
    }
    std::size_t newline = text.find('\n');
    bool terminated = newline != std::string_view::npos;
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(terminated ? newline + 1 : text.size());

    ManifestEntry entry = FK_TRY(ParseLine(line, line_no));
    const std::vector<ManifestEntry>& entries = manifest.entries_;
    if (!entries.empty() && entries.front().digest != entry.digest) {
      return Fail(ErrorCode::kInvalidInput,
                  LinePrefix(line_no) + "mixes SHA1 and SHA256 lines in one manifest");
    }
    if (entry.digest == ManifestDigest::kSha256) {
      // Sorted and unique, so the bytes that are signed are the one canonical form.
      if (!terminated) {
        return Fail(ErrorCode::kInvalidInput, LinePrefix(line_no) + "missing final newline");
      }
      if (!entries.empty() && entry.name <= entries.back().name) {
        return Fail(ErrorCode::kInvalidInput,
                    LinePrefix(line_no) + "'" + entry.name + "' " +
                        (entry.name == entries.back().name ? "is listed twice"
                                                           : "is out of order (names must be "
                                                             "sorted bytewise)"));
      }
    }
    if (entry.digest == ManifestDigest::kSha1 && !legacy_names.insert(entry.name).second) {
      return Fail(ErrorCode::kInvalidInput,
                  LinePrefix(line_no) + "'" + entry.name + "' is listed twice");
    }
    manifest.entries_.push_back(std::move(entry));
  }
  return manifest;
}

Result<Manifest> Manifest::FromEntries(std::vector<ManifestEntry> entries) {
  if (entries.size() > kMaxLines) {
    return Fail(ErrorCode::kLimit, "more than " + std::to_string(kMaxLines) + " members");
  }
  for (const ManifestEntry& entry : entries) {
    if (entry.digest != ManifestDigest::kSha256) {
      return Fail(ErrorCode::kInvalidInput,
                  "'" + entry.name + "': new manifests list SHA-256 digests only");
    }
    if (auto problem = NameProblem(entry.name); !problem.empty()) {
      return Fail(ErrorCode::kInvalidInput, std::move(problem));
    }
    if (auto problem = DigestProblem(AlgorithmOf(entry.digest), entry.hex); !problem.empty()) {
      return Fail(ErrorCode::kInvalidInput, "'" + entry.name + "': " + problem);
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.name < b.name; });
  auto duplicate = std::adjacent_find(
      entries.begin(), entries.end(),
      [](const ManifestEntry& a, const ManifestEntry& b) { return a.name == b.name; });
  if (duplicate != entries.end()) {
    return Fail(ErrorCode::kInvalidInput, "'" + duplicate->name + "' is listed twice");
  }
  Manifest manifest;
  manifest.entries_ = std::move(entries);
  if (manifest.Serialize().size() > kMaxBytes) {
    return Fail(ErrorCode::kLimit, "manifest larger than " + std::to_string(kMaxBytes) + " bytes");
  }
  return manifest;
}

std::string Manifest::Serialize() const {
  std::string out;
  for (const ManifestEntry& entry : entries_) {
    out += AlgorithmOf(entry.digest).prefix;
    out += entry.name;
    out += kSeparator;
    out += entry.hex;
    out += '\n';
  }
  return out;
}

const ManifestEntry* Manifest::Find(std::string_view name) const {
  for (const ManifestEntry& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace fogkeep::package
