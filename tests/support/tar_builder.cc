#include "support/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fogkeep::testing {
namespace {

constexpr std::size_t kBlock = 512;

// Field offsets and widths of a ustar header.
struct Field {
  std::size_t offset;
  std::size_t width;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr Field kTypeflag{156, 1};
constexpr Field kLinkname{157, 100};
constexpr Field kMagic{257, 6};
constexpr Field kVersion{263, 2};
constexpr Field kUname{265, 32};
constexpr Field kGname{297, 32};
constexpr Field kDevMajor{329, 8};
constexpr Field kDevMinor{337, 8};

[[noreturn]] void Die(const char* what, archive* a) {
  std::fprintf(stderr, "tar_builder: %s: %s\n", what, a ? archive_error_string(a) : "");
  std::abort();
}

// Copies `text` into the field, cut to its width (no terminator needed when it fills it).
void PutString(std::string& block, Field field, std::string_view text) {
  std::memcpy(block.data() + field.offset, text.data(), std::min(text.size(), field.width));
}

// Octal with a NUL terminator when it fits in width-1 digits, else GNU base-256.
void PutNumber(std::string& block, Field field, std::uint64_t value) {
  std::size_t digits = field.width - 1;
  bool fits = digits >= 22 || value < (std::uint64_t{1} << (3 * digits));
  if (fits) {
    std::string octal(digits, '0');
    for (std::size_t i = digits; i-- > 0 && value != 0; value >>= 3) {
      octal[i] = static_cast<char>('0' + (value & 7));
    }
    PutString(block, field, octal);
    block[field.offset + digits] = '\0';
    return;
  }
  block[field.offset] = static_cast<char>(0x80);
  for (std::size_t i = field.width; i-- > 1; value >>= 8) {
    block[field.offset + i] = static_cast<char>(value & 0xff);
  }
}

std::string Pad(std::string data) {
  std::size_t rem = data.size() % kBlock;
  if (rem != 0) data.append(kBlock - rem, '\0');
  return data;
}

// A header of type `type` carrying `payload` (GNU long name/link or pax records).
std::string ExtensionRecord(std::string_view header_name, char type, std::string_view payload,
                            bool gnu) {
  TarEntry ext;
  ext.name = std::string(header_name);
  ext.type = type;
  ext.data = std::string(payload);
  std::string block = TarHeaderBlock(ext);
  if (gnu) {
    // GNU tar writes its "ustar  \0" magic on these records.
    std::memcpy(block.data() + kMagic.offset, "ustar  \0", 8);
    unsigned sum = 0;
    std::memset(block.data() + kChecksum.offset, ' ', kChecksum.width);
    for (unsigned char c : block) sum += c;
    std::snprintf(block.data() + kChecksum.offset, kChecksum.width, "%06o", sum);
    block[kChecksum.offset + 7] = ' ';
  }
  return block + Pad(std::string(payload));
}

}  // namespace

std::string TarHeaderBlock(const TarEntry& entry) {
  std::string block(kBlock, '\0');
  PutString(block, kName, entry.name);
  PutNumber(block, kMode, entry.mode);
  PutNumber(block, kUid, entry.uid);
  PutNumber(block, kGid, entry.gid);
  if (entry.raw_size_field) {
    std::string raw = *entry.raw_size_field;
    raw.resize(kSize.width, '\0');
    std::memcpy(block.data() + kSize.offset, raw.data(), kSize.width);
  } else {
    PutNumber(block, kSize, entry.header_size.value_or(entry.data.size()));
  }
  PutNumber(block, kMtime, entry.mtime);
  block[kTypeflag.offset] = entry.type;
  PutString(block, kLinkname, entry.link_target);
  std::memcpy(block.data() + kMagic.offset, "ustar\0", 6);
  std::memcpy(block.data() + kVersion.offset, "00", 2);
  PutString(block, kUname, entry.uname);
  PutString(block, kGname, entry.gname);
  PutNumber(block, kDevMajor, entry.dev_major);
  PutNumber(block, kDevMinor, entry.dev_minor);

  std::uint32_t sum = 0;
  std::memset(block.data() + kChecksum.offset, ' ', kChecksum.width);
  for (unsigned char c : block) sum += c;
  if (entry.checksum) sum = *entry.checksum;
  char text[kChecksum.width + 1];
  std::snprintf(text, sizeof(text), "%06o", sum & 0777777);
  std::memcpy(block.data() + kChecksum.offset, text, 6);
  block[kChecksum.offset + 6] = '\0';
  block[kChecksum.offset + 7] = ' ';
  return block;
}

std::string PaxRecord(std::string_view key, std::string_view value) {
  // The length counts itself: find the fixed point of its digit count.
  std::size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

TarBuilder& TarBuilder::File(std::string name, std::string data, std::uint32_t mode) {
  TarEntry e;
  e.name = std::move(name);
  e.data = std::move(data);
  e.mode = mode;
  return Add(e);
}

TarBuilder& TarBuilder::Dir(std::string name, std::uint32_t mode) {
  TarEntry e;
  e.name = std::move(name);
  e.type = kTarDirectory;
  e.mode = mode;
  return Add(e);
}

TarBuilder& TarBuilder::Symlink(std::string name, std::string target) {
  TarEntry e;
  e.name = std::move(name);
  e.type = kTarSymlink;
  e.mode = 0777;
  e.link_target = std::move(target);
  return Add(e);
}

TarBuilder& TarBuilder::Hardlink(std::string name, std::string target) {
  TarEntry e;
  e.name = std::move(name);
  e.type = kTarHardLink;
  e.link_target = std::move(target);
  return Add(e);
}

TarBuilder& TarBuilder::CharDevice(std::string name, std::uint32_t major, std::uint32_t minor) {
  TarEntry e;
  e.name = std::move(name);
  e.type = kTarCharDevice;
  e.dev_major = major;
  e.dev_minor = minor;
  return Add(e);
}

TarBuilder& TarBuilder::BlockDevice(std::string name, std::uint32_t major, std::uint32_t minor) {
  TarEntry e;
  e.name = std::move(name);
  e.type = kTarBlockDevice;
  e.dev_major = major;
  e.dev_minor = minor;
  return Add(e);
}

TarBuilder& TarBuilder::Fifo(std::string name) {
  TarEntry e;
  e.name = std::move(name);
  e.type = kTarFifo;
  return Add(e);
}

TarBuilder& TarBuilder::Add(const TarEntry& entry) {
  auto pax = entry.pax;
  bool long_name = entry.name.size() > kName.width;
  bool long_link = entry.link_target.size() > kLinkname.width;
  if (entry.long_names == LongNames::kGnu) {
    if (long_link) {
      bytes_ += ExtensionRecord("././@LongLink", 'K', entry.link_target + '\0', true);
    }
    if (long_name) bytes_ += ExtensionRecord("././@LongLink", 'L', entry.name + '\0', true);
  } else if (entry.long_names == LongNames::kPax) {
    if (long_name) pax.emplace_back("path", entry.name);
    if (long_link) pax.emplace_back("linkpath", entry.link_target);
  }
  if (!pax.empty()) {
    std::string records;
    for (const auto& [key, value] : pax) records += PaxRecord(key, value);
    std::string pax_name = "PaxHeaders/" + entry.name.substr(0, 80);
    bytes_ += ExtensionRecord(pax_name, 'x', records, false);
  }
  bytes_ += TarHeaderBlock(entry);
  bytes_ += Pad(entry.data);
  return *this;
}

TarBuilder& TarBuilder::Raw(std::string_view bytes) {
  bytes_.append(bytes);
  return *this;
}

std::string TarBuilder::Finish(bool end_marker) const {
  std::string out = bytes_;
  if (end_marker) out.append(2 * kBlock, '\0');
  return out;
}

struct GzipStream::Impl {
  archive* a = nullptr;
  std::string out;
  bool finished = false;

  static la_ssize_t Collect(archive*, void* client, const void* buf, size_t n) {
    static_cast<Impl*>(client)->out.append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
};

GzipStream::GzipStream() : impl_(std::make_unique<Impl>()) {
  archive* a = archive_write_new();
  impl_->a = a;
  if (archive_write_add_filter_gzip(a) != ARCHIVE_OK) Die("gzip filter", a);
  // No timestamp in the gzip header: the same input gives the same bytes.
  archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);
  if (archive_write_set_format_raw(a) != ARCHIVE_OK) Die("raw format", a);
  // Unblocked output: the gzip stream ends exactly at its trailer.
  archive_write_set_bytes_per_block(a, 0);
  if (archive_write_open(a, impl_.get(), nullptr, &Impl::Collect, nullptr) != ARCHIVE_OK) {
    Die("open", a);
  }
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, "data");
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_perm(entry, 0644);
  if (archive_write_header(a, entry) != ARCHIVE_OK) Die("header", a);
  archive_entry_free(entry);
}

GzipStream::~GzipStream() {
  if (!impl_->finished) archive_write_close(impl_->a);
  archive_write_free(impl_->a);
}

void GzipStream::Write(std::string_view data) {
  while (!data.empty()) {
    la_ssize_t n = archive_write_data(impl_->a, data.data(), data.size());
    if (n <= 0) Die("write", impl_->a);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void GzipStream::Finish() {
  if (impl_->finished) return;
  impl_->finished = true;
  if (archive_write_close(impl_->a) != ARCHIVE_OK) Die("close", impl_->a);
}

std::string GzipStream::Take() { return std::exchange(impl_->out, std::string()); }

std::string Gzip(std::string_view data) {
  GzipStream gz;
  gz.Write(data);
  gz.Finish();
  return gz.Take();
}

}  // namespace fogkeep::testing
