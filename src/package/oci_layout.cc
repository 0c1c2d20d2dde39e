// FlattenOciLayout (declared in tar_writer.h): an OCI image layout on disk → one rootfs tree.
//
// Everything in the layout is hostile: the JSON documents (types, sizes, digests), the blob
// files (opened beneath the layout without following symlinks, hashed while they are read)
// and the layer tars (extracted by ExtractTar with its limits and whiteouts).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "crypto/hash.h"
#include "package/rootfs.h"
#include "package/tar_writer.h"

namespace fogkeep::package {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxJsonBytes = 4 << 20;  // oci-layout, index.json, manifests, configs
constexpr int kMaxIndexDepth = 4;               // index → index → ... → manifest
constexpr std::size_t kMaxLayers = 256;
constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view kLayerTypes[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
};

bool IsIndexType(std::string_view t) { return t == kOciIndex || t == kDockerList; }
bool IsManifestType(std::string_view t) { return t == kOciManifest || t == kDockerManifest; }
bool IsLayerType(std::string_view t) {
  return std::find(std::begin(kLayerTypes), std::end(kLayerTypes), t) != std::end(kLayerTypes);
}

// The architecture name OCI platforms use for this build (GOARCH spelling).
constexpr std::string_view HostArchitecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "";
#endif
}

Error Invalid(std::string_view where, std::string_view why) {
  return Error(ErrorCode::kInvalidInput, std::string(where) + ": " + std::string(why));
}

// Parses a JSON document that must be an object. Boost.JSON reports syntax errors through the
// error_code; the catch covers allocation failures and anything else it may throw.
Result<json::object> ParseObject(std::string_view text, std::string_view where) {
  json::value value;
  try {
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 64;
    value = json::parse(text, ec, {}, options);
    if (ec) return Fail(Invalid(where, "malformed JSON: " + ec.message()));
  } catch (const std::exception& e) {
    return Fail(Invalid(where, std::string("malformed JSON: ") + e.what()));
  }
  json::object* object = value.if_object();
  if (object == nullptr) return Fail(Invalid(where, "not a JSON object"));
  return std::move(*object);
}

// Optional string member: empty when absent, an error when present with another type.
Result<std::string> StringMember(const json::object& object, std::string_view key,
                                 std::string_view where) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr) return std::string();
  const json::string* s = v->if_string();
  if (s == nullptr) return Fail(Invalid(where, "\"" + std::string(key) + "\" is not a string"));
  return std::string(s->data(), s->size());
}

Result<const json::array*> ArrayMember(const json::object& object, std::string_view key,
                                       std::string_view where) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr) return Fail(Invalid(where, "\"" + std::string(key) + "\" is missing"));
  const json::array* a = v->if_array();
  if (a == nullptr) return Fail(Invalid(where, "\"" + std::string(key) + "\" is not an array"));
  return a;
}

// An OCI content descriptor, validated enough to be used: the digest is sha256 with exactly 64
// lowercase hex digits (so it is safe in a path), the size a non-negative integer.
struct Descriptor {
  std::string media_type;
  std::string hex;
  std::uint64_t size = 0;
  std::string ref_name;
  std::string os;
  std::string architecture;
  std::string variant;

  std::string Name() const { return "sha256:" + hex; }
};

Result<Descriptor> ParseDescriptor(const json::value& value, std::string_view where) {
  const json::object* object = value.if_object();
  if (object == nullptr) return Fail(Invalid(where, "descriptor is not an object"));
  Descriptor d;
  d.media_type = FK_TRY(StringMember(*object, "mediaType", where));
  if (d.media_type.empty()) return Fail(Invalid(where, "descriptor without a mediaType"));

  std::string digest = FK_TRY(StringMember(*object, "digest", where));
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix)) {
    return Fail(Invalid(where, "digest '" + digest.substr(0, 80) + "' is not sha256"));
  }
  d.hex = digest.substr(kPrefix.size());
  bool hex_ok = d.hex.size() == 64 && std::all_of(d.hex.begin(), d.hex.end(), [](char c) {
                  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                });
  if (!hex_ok) {
    return Fail(
        Invalid(where, "digest '" + digest.substr(0, 80) + "' is not 64 lowercase hex digits"));
  }

  const json::value* size = object->if_contains("size");
  if (size == nullptr) return Fail(Invalid(where, "descriptor without a size"));
  if (const std::int64_t* i = size->if_int64(); i != nullptr && *i >= 0) {
    d.size = static_cast<std::uint64_t>(*i);
  } else if (const std::uint64_t* u = size->if_uint64(); u != nullptr) {
    d.size = *u;
  } else {
    return Fail(Invalid(where, "size is not a non-negative integer"));
  }

  if (const json::value* annotations = object->if_contains("annotations")) {
    const json::object* a = annotations->if_object();
    if (a == nullptr) return Fail(Invalid(where, "annotations is not an object"));
    d.ref_name = FK_TRY(StringMember(*a, kRefNameAnnotation, where));
  }
  if (const json::value* platform = object->if_contains("platform")) {
    const json::object* p = platform->if_object();
    if (p == nullptr) return Fail(Invalid(where, "platform is not an object"));
    d.os = FK_TRY(StringMember(*p, "os", where));
    d.architecture = FK_TRY(StringMember(*p, "architecture", where));
    d.variant = FK_TRY(StringMember(*p, "variant", where));
  }
  return d;
}

// Reads a layer blob for ExtractTar, hashing every byte and refusing more bytes than the
// descriptor declares, so a swapped or endless blob is caught while it streams.
class VerifyingSource : public ByteSource {
 public:
  VerifyingSource(fs::UniqueFd fd, const Descriptor& d) : fd_(std::move(fd)), descriptor_(d) {}

  Result<std::size_t> Read(char* buf, std::size_t size) override {
    while (true) {
      ssize_t n = ::read(fd_.get(), buf, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return FailErrno("read blob " + descriptor_.Name(), errno);
      }
      consumed_ += static_cast<std::uint64_t>(n);
      if (consumed_ > descriptor_.size) {
        return Fail(ErrorCode::kIntegrity, "blob " + descriptor_.Name() + " is larger than the " +
                                               std::to_string(descriptor_.size) +
                                               " bytes its descriptor declares");
      }
      digest_.Update(buf, static_cast<std::size_t>(n));
      return static_cast<std::size_t>(n);
    }
  }

  // Reads what the tar reader left (padding after the end marker) and checks size and digest.
  Status Verify() {
    char buf[64 << 10];
    while (true) {
      std::size_t n = FK_TRY(Read(buf, sizeof(buf)));
      if (n == 0) break;
    }
    if (consumed_ != descriptor_.size) {
      return Fail(ErrorCode::kIntegrity, "blob " + descriptor_.Name() + " has " +
                                             std::to_string(consumed_) + " bytes, its descriptor " +
                                             std::to_string(descriptor_.size));
    }
    if (digest_.HexFinal() != descriptor_.hex) {
      return Fail(ErrorCode::kIntegrity,
                  "blob " + descriptor_.Name() + " does not match its digest");
    }
    return {};
  }

  std::uint64_t consumed() const { return consumed_; }

 private:
  fs::UniqueFd fd_;
  const Descriptor& descriptor_;
  crypto::Digest digest_{crypto::DigestAlgorithm::kSha256};
  std::uint64_t consumed_ = 0;
};

class Layout {
 public:
  Layout(std::string dir, fs::UniqueFd fd) : dir_(std::move(dir)), fd_(std::move(fd)) {}

  // A file of the layout, opened beneath it without following symlinks; a regular file only.
  Result<fs::UniqueFd> Open(const std::string& relpath) const {
    auto fd = fs::OpenBeneath(fd_.get(), relpath, O_RDONLY);
    if (!fd) {
      if (fd.error().code() == ErrorCode::kNotFound) {
        return Fail(ErrorCode::kNotFound, dir_ + " has no " + relpath);
      }
      return Fail(fd.error().With(dir_));
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return FailErrno("stat " + relpath, errno);
    if (!S_ISREG(st.st_mode)) {
      return Fail(Invalid(dir_ + "/" + relpath, "not a regular file"));
    }
    return fd;
  }

  Result<std::string> ReadSmall(const std::string& relpath) const {
    auto fd = FK_TRY(Open(relpath));
    std::string out;
    char buf[64 << 10];
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        return FailErrno("read " + relpath, errno);
      }
      if (n == 0) break;
      if (out.size() + static_cast<std::size_t>(n) > kMaxJsonBytes) {
        return Fail(ErrorCode::kLimit, dir_ + "/" + relpath + " is larger than " +
                                           std::to_string(kMaxJsonBytes) + " bytes");
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  static std::string BlobPath(const Descriptor& d) { return "blobs/sha256/" + d.hex; }

  // A JSON blob (index, manifest, config), checked against its size and digest.
  Result<json::object> ReadJsonBlob(const Descriptor& d) const {
    if (d.size > kMaxJsonBytes) {
      return Fail(ErrorCode::kLimit, "blob " + d.Name() + " declares " + std::to_string(d.size) +
                                         " bytes, more than a JSON document may have");
    }
    std::string text = FK_TRY(ReadSmall(BlobPath(d)));
    if (text.size() != d.size || crypto::Sha256Hex(text) != d.hex) {
      return Fail(ErrorCode::kIntegrity, "blob " + d.Name() + " does not match its descriptor");
    }
    return ParseObject(text, "blob " + d.Name());
  }

  // Resolves a descriptor from an index to one image manifest, descending through nested
  // indexes (multi-platform images) by platform.
  Result<Descriptor> ResolveManifest(const Descriptor& d, int depth) const {
    if (IsManifestType(d.media_type)) return d;
    if (!IsIndexType(d.media_type)) {
      return Fail(Invalid(d.Name(), "unsupported media type '" + d.media_type + "'"));
    }
    if (depth >= kMaxIndexDepth) return Fail(Invalid(d.Name(), "indexes nested too deeply"));
    json::object index = FK_TRY(ReadJsonBlob(d));
    FK_TRY(CheckIsIndex(index, d.Name(), d.media_type));
    auto candidates = FK_TRY(Manifests(index, d.Name()));
    if (candidates.size() != 1) {
      std::vector<Descriptor> matching;
      for (const auto& c : candidates) {
        if (c.os == "linux" && c.architecture == HostArchitecture()) matching.push_back(c);
      }
      if (matching.size() != 1) {
        return Fail(Invalid(d.Name(), "index lists " + std::to_string(candidates.size()) +
                                          " manifests and " + std::to_string(matching.size()) +
                                          " of them are for linux/" +
                                          std::string(HostArchitecture())));
      }
      candidates = std::move(matching);
    }
    return ResolveManifest(candidates.front(), depth + 1);
  }

  static Result<std::vector<Descriptor>> Manifests(const json::object& index,
                                                   std::string_view where) {
    const json::array* manifests = FK_TRY(ArrayMember(index, "manifests", where));
    if (manifests->empty()) return Fail(Invalid(where, "lists no manifests"));
    std::vector<Descriptor> out;
    for (std::size_t i = 0; i < manifests->size(); ++i) {
      out.push_back(FK_TRY(ParseDescriptor(
          (*manifests)[i], std::string(where) + ": manifests[" + std::to_string(i) + "]")));
    }
    return out;
  }

  // An index must not look like a manifest and vice versa: the ambiguity behind
  // CVE-2021-41190, where two readers saw different images in the same bytes.
  static Status CheckIsIndex(const json::object& doc, std::string_view where,
                             std::string_view media_type) {
    if (doc.contains("layers") || doc.contains("config")) {
      return Fail(Invalid(where, "an index with manifest fields"));
    }
    std::string declared = FK_TRY(StringMember(doc, "mediaType", where));
    if (!declared.empty() && declared != media_type) {
      return Fail(Invalid(where, "mediaType '" + declared + "' differs from its descriptor"));
    }
    return {};
  }

 private:
  std::string dir_;
  fs::UniqueFd fd_;
};

std::string Tags(const std::vector<Descriptor>& manifests) {
  std::vector<std::string> tags;
  for (const auto& m : manifests) tags.push_back(m.ref_name.empty() ? "(untagged)" : m.ref_name);
  std::sort(tags.begin(), tags.end());
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ", ") + t;
  return out;
}

}  // namespace

Status FlattenOciLayout(const std::string& layout_dir, const std::string& dest_dir,
                        std::string_view tag) {
  auto layout_fd = FK_TRY(fs::OpenDir(layout_dir));
  Layout layout(layout_dir, std::move(layout_fd));

  // oci-layout: {"imageLayoutVersion": "1.0.0"}
  {
    std::string text = FK_TRY(layout.ReadSmall("oci-layout"));
    json::object marker = FK_TRY(ParseObject(text, layout_dir + "/oci-layout"));
    std::string version = FK_TRY(StringMember(marker, "imageLayoutVersion", "oci-layout"));
    if (!version.starts_with("1.")) {
      return Fail(Invalid(layout_dir + "/oci-layout",
                          "unsupported imageLayoutVersion '" + version.substr(0, 40) + "'"));
    }
  }

  std::string index_where = layout_dir + "/index.json";
  json::object index = FK_TRY(ParseObject(FK_TRY(layout.ReadSmall("index.json")), index_where));
  FK_TRY(Layout::CheckIsIndex(index, index_where, kOciIndex));
  std::vector<Descriptor> manifests = FK_TRY(Layout::Manifests(index, index_where));
  std::vector<Descriptor> chosen;
  if (!tag.empty()) {
    for (const auto& m : manifests) {
      if (m.ref_name == tag) chosen.push_back(m);
    }
    if (chosen.empty()) {
      return Fail(ErrorCode::kNotFound, "no image tagged '" + std::string(tag) + "' in " +
                                            layout_dir + " (tags: " + Tags(manifests) + ")");
    }
  } else {
    chosen = manifests;
  }
  if (chosen.size() != 1) {
    return Fail(Invalid(index_where, "lists " + std::to_string(chosen.size()) +
                                         " images; choose one by tag: " + Tags(chosen)));
  }
  Descriptor manifest_desc = FK_TRY(layout.ResolveManifest(chosen.front(), 0));

  std::string where = "manifest " + manifest_desc.Name();
  json::object manifest = FK_TRY(layout.ReadJsonBlob(manifest_desc));
  if (manifest.contains("manifests")) return Fail(Invalid(where, "a manifest with index fields"));
  {
    const json::value* schema = manifest.if_contains("schemaVersion");
    const std::int64_t* version = schema != nullptr ? schema->if_int64() : nullptr;
    if (version == nullptr || *version != 2) {
      return Fail(Invalid(where, "schemaVersion is not 2"));
    }
    std::string declared = FK_TRY(StringMember(manifest, "mediaType", where));
    if (!declared.empty() && declared != manifest_desc.media_type) {
      return Fail(Invalid(where, "mediaType '" + declared + "' differs from its descriptor"));
    }
  }
  // The config is not needed to build the rootfs, but it is part of the image: verify it.
  {
    const json::value* config = manifest.if_contains("config");
    if (config == nullptr) return Fail(Invalid(where, "no config"));
    Descriptor config_desc = FK_TRY(ParseDescriptor(*config, where + ": config"));
    FK_TRY(layout.ReadJsonBlob(config_desc));
  }
  const json::array* layer_values = FK_TRY(ArrayMember(manifest, "layers", where));
  if (layer_values->size() > kMaxLayers) {
    return Fail(ErrorCode::kLimit,
                where + " has more than " + std::to_string(kMaxLayers) + " layers");
  }
  std::vector<Descriptor> layers;
  for (std::size_t i = 0; i < layer_values->size(); ++i) {
    std::string layer_where = where + ": layers[" + std::to_string(i) + "]";
    Descriptor d = FK_TRY(ParseDescriptor((*layer_values)[i], layer_where));
    if (!IsLayerType(d.media_type)) {
      return Fail(Invalid(layer_where,
                          "unsupported layer media type '" + d.media_type.substr(0, 120) + "'"));
    }
    layers.push_back(std::move(d));
  }

  FK_TRY(fs::MakeDirs(dest_dir, 0755));
  auto dest = FK_TRY(fs::OpenDir(dest_dir));
  // The extraction limits hold for the image as a whole, not per layer.
  ExtractOptions options;
  options.apply_whiteouts = true;
  std::uint64_t bytes_left = options.limits.max_total_bytes;
  std::uint64_t entries_left = options.limits.max_entries;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Descriptor& layer = layers[i];
    std::string layer_where = "layer " + std::to_string(i) + " (" + layer.Name() + ")";
    auto fd = FK_TRY(layout.Open(Layout::BlobPath(layer)));
    VerifyingSource source(std::move(fd), layer);
    options.limits.max_total_bytes = bytes_left;
    options.limits.max_entries = entries_left;
    options.compressed_consumed = [&source] { return source.consumed(); };
    auto stats = ExtractTar(source, dest.get(), options);
    // A blob that fails its digest is reported as such even when it also broke the tar.
    auto verified = source.Verify();
    if (!verified) return Fail(std::move(verified).error().With(layer_where));
    if (!stats) return Fail(std::move(stats).error().With(layer_where));
    bytes_left -= std::min(bytes_left, stats->bytes);
    entries_left -= std::min(entries_left, stats->entries);
  }
  return {};
}

}  // namespace fogkeep::package
