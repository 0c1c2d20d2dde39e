// Builds raw tar bytes in memory, exactly as a test describes them, including archives no
// honest tar tool would write: hostile names, devices, links anywhere, header sizes that lie,
// broken checksums. Tests use it to craft attacks on every archive reader.
//
// The gzip helpers are built on libarchive's gzip filter, so a test that uses them must link
// libarchive (every target that links fogkeep::package does).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fogkeep::testing {

// Tar type flags (the byte at offset 156 of a header).
inline constexpr char kTarFile = '0';
inline constexpr char kTarHardLink = '1';
inline constexpr char kTarSymlink = '2';
inline constexpr char kTarCharDevice = '3';
inline constexpr char kTarBlockDevice = '4';
inline constexpr char kTarDirectory = '5';
inline constexpr char kTarFifo = '6';

// How a name or link target longer than the 100-byte ustar field is encoded.
enum class LongNames {
  kGnu,       // a "././@LongLink" record of type 'L' (name) or 'K' (link target)
  kPax,       // a pax extended header ('x') with "path" / "linkpath"
  kTruncate,  // no extension: the field is cut at 100 bytes (a deliberately broken archive)
};

struct TarEntry {
  std::string name;
  char type = kTarFile;
  // Bytes that follow the header, padded with zeros to a multiple of 512.
  std::string data;
  std::string link_target;  // linkname field (symlink target, hard-link source)
  std::uint32_t mode = 0644;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t mtime = 0;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::string uname;
  std::string gname;
  // The size written in the header; defaults to data.size(). Set it to lie about the size.
  std::optional<std::uint64_t> header_size;
  // When set, these exactly 12 bytes are written as the size field (e.g. a negative base-256
  // number or garbage), overriding header_size.
  std::optional<std::string> raw_size_field;
  // When set, written as the checksum instead of the correct one.
  std::optional<std::uint32_t> checksum;
  LongNames long_names = LongNames::kGnu;
  // Extra pax records (key, value) written in an 'x' header right before this entry, in order.
  std::vector<std::pair<std::string, std::string>> pax;
};

// The 512-byte ustar header block for `entry` (names cut to their fields; no extensions).
std::string TarHeaderBlock(const TarEntry& entry);
// One pax record "<len> key=value\n" with its self-inclusive length.
std::string PaxRecord(std::string_view key, std::string_view value);

// Accumulates entries; Finish() returns the archive bytes.
class TarBuilder {
 public:
  TarBuilder& File(std::string name, std::string data, std::uint32_t mode = 0644);
  TarBuilder& Dir(std::string name, std::uint32_t mode = 0755);
  TarBuilder& Symlink(std::string name, std::string target);
  TarBuilder& Hardlink(std::string name, std::string target);
  TarBuilder& CharDevice(std::string name, std::uint32_t major = 1, std::uint32_t minor = 3);
  TarBuilder& BlockDevice(std::string name, std::uint32_t major = 8, std::uint32_t minor = 0);
  TarBuilder& Fifo(std::string name);
  // Any entry, with every field under the caller's control.
  TarBuilder& Add(const TarEntry& entry);
  // Appends bytes verbatim (a hand-made header, garbage, a partial block).
  TarBuilder& Raw(std::string_view bytes);

  // The archive so far, followed by the two zero blocks that end a tar when `end_marker`.
  std::string Finish(bool end_marker = true) const;
  // The bytes so far without an end marker (to truncate or to stream further data after).
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// gzip of `data` in one call.
std::string Gzip(std::string_view data);

// Streaming gzip compressor: Write() any number of times, Take() the compressed bytes produced
// so far, Finish() once to flush the trailer. Memory stays bounded by what the caller has not
// taken, so gigabytes of input can be compressed into a stream without ever being held.
class GzipStream {
 public:
  GzipStream();
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  void Write(std::string_view data);
  void Finish();
  // Returns and clears the compressed output produced so far.
  std::string Take();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fogkeep::testing
