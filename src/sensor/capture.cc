#include "sensor/capture.h"

#include <pcap/pcap.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

namespace fogkeep::sensor {
namespace {

// A live read returns at least this often, so idle flows expire on a quiet link.
constexpr int kReadTimeoutMs = 1000;
constexpr std::size_t kFileBufferBytes = 1 << 20;

std::uint64_t NowUs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Status ApplyFilter(pcap* handle, const std::string& filter, const std::string& source) {
  if (filter.empty()) return {};
  bpf_program program{};
  if (pcap_compile(handle, &program, filter.c_str(), /*optimize=*/1, PCAP_NETMASK_UNKNOWN) != 0) {
    return Fail(ErrorCode::kInvalidInput,
                "filter \"" + filter + "\": " + std::string(pcap_geterr(handle)));
  }
  const int set = pcap_setfilter(handle, &program);
  pcap_freecode(&program);
  if (set != 0) {
    return Fail(ErrorCode::kUnavailable,
                source + ": cannot apply the filter: " + pcap_geterr(handle));
  }
  return {};
}

Result<LinkType> LinkOf(pcap* handle, const std::string& source) {
  const int dlt = pcap_datalink(handle);
  const std::optional<LinkType> link = LinkTypeFromDlt(dlt);
  if (!link) {
    const char* name = pcap_datalink_val_to_name(dlt);
    return Fail(ErrorCode::kInvalidInput,
                source + ": link type " + (name != nullptr ? name : std::to_string(dlt)) +
                    " is not supported (Ethernet, raw IP and Linux cooked captures are)");
  }
  return *link;
}

}  // namespace

Capture::Capture(pcap* handle, LinkType link, bool live)
    : handle_(handle), link_(link), live_(live) {}

Capture::~Capture() { pcap_close(handle_); }

Result<std::unique_ptr<Capture>> Capture::OpenFile(const std::string& path,
                                                   const std::string& filter) {
  char error[PCAP_ERRBUF_SIZE] = {};
  // libpcap reads a file through stdio, a record header and a record at a time: with stdio's
  // default 4 KiB buffer that is a read(2) every few frames, a good part of the cost of a
  // fast pass. A larger buffer, set before the first read, makes it one per MiB.
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr) return Fail(ErrorCode::kInvalidInput, ErrnoMessage(path, errno));
  // glibc takes a size only with a buffer of the caller's; the Capture keeps it.
  auto buffer = std::make_unique<char[]>(kFileBufferBytes);
  std::setvbuf(file, buffer.get(), _IOFBF, kFileBufferBytes);
  // Reads pcap and pcapng alike; a file that is neither is refused here with libpcap's reason.
  // On success the handle owns the file.
  pcap* handle = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, error);
  if (handle == nullptr) {
    std::fclose(file);
    return Fail(ErrorCode::kInvalidInput, path + ": " + error);
  }
  std::unique_ptr<Capture> capture;
  auto link = LinkOf(handle, path);
  if (!link) {
    pcap_close(handle);
    return Fail(link.error());
  }
  capture.reset(new Capture(handle, *link, /*live=*/false));
  capture->file_buffer_ = std::move(buffer);
  FK_TRY(ApplyFilter(handle, filter, path));
  return capture;
}

Result<std::unique_ptr<Capture>> Capture::OpenLive(const LiveOptions& options) {
  char error[PCAP_ERRBUF_SIZE] = {};
  const std::string& name = options.interface;
  pcap* handle = pcap_create(name.c_str(), error);
  if (handle == nullptr) return Fail(ErrorCode::kUnavailable, name + ": " + error);
  std::unique_ptr<Capture> capture;
  auto fail = [&](ErrorCode code, std::string message) -> Result<std::unique_ptr<Capture>> {
    if (!capture) pcap_close(handle);
    return Fail(code, name + ": " + message);
  };
  pcap_set_snaplen(handle, options.snapshot_length);
  pcap_set_promisc(handle, options.promiscuous ? 1 : 0);
  pcap_set_timeout(handle, kReadTimeoutMs);
  pcap_set_buffer_size(handle, options.buffer_bytes);
  pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_MICRO);
  const int activated = pcap_activate(handle);
  if (activated < 0) {
    const ErrorCode code = activated == PCAP_ERROR_PERM_DENIED      ? ErrorCode::kForbidden
                           : activated == PCAP_ERROR_NO_SUCH_DEVICE ? ErrorCode::kNotFound
                                                                    : ErrorCode::kUnavailable;
    std::string reason = pcap_statustostr(activated);
    const std::string detail = pcap_geterr(handle);
    if (!detail.empty()) reason += " (" + detail + ")";
    if (activated == PCAP_ERROR_PERM_DENIED) reason += "; capturing needs CAP_NET_RAW";
    return fail(code, reason);
  }
  auto link = LinkOf(handle, name);
  if (!link) return fail(link.error().code(), link.error().message());
  capture.reset(new Capture(handle, *link, /*live=*/true));
  FK_TRY(ApplyFilter(handle, options.filter, name));
  return capture;
}

Status Capture::Run(const FrameHandler& on_frame, const IdleHandler& on_idle) {
  while (!stopping_.load(std::memory_order_relaxed)) {
    pcap_pkthdr* header = nullptr;
    const std::uint8_t* data = nullptr;
    const int got = pcap_next_ex(handle_, &header, &data);
    if (got == 1) {
      ++received_;
      const std::uint64_t timestamp_us = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000 +
                                         static_cast<std::uint64_t>(header->ts.tv_usec);
      on_frame(std::span<const std::uint8_t>(data, header->caplen), timestamp_us, header->len);
    } else if (got == 0) {  // a live read timed out
      if (on_idle) on_idle(NowUs());
    } else if (got == PCAP_ERROR_BREAK) {
      break;
    } else if (got == PCAP_ERROR && !live_) {
      // A file cut short ends the capture with what was read, as tcpdump does; say so.
      return Fail(ErrorCode::kInvalidInput,
                  "capture file truncated or corrupt: " + std::string(pcap_geterr(handle_)));
    } else if (got == PCAP_ERROR) {
      return Fail(ErrorCode::kUnavailable, std::string("capture failed: ") + pcap_geterr(handle_));
    } else {
      break;  // PCAP_ERROR_BREAK at the end of a file
    }
  }
  return {};
}

void Capture::Stop() {
  stopping_.store(true, std::memory_order_relaxed);
  pcap_breakloop(handle_);
}

CaptureStats Capture::stats() const {
  CaptureStats stats{.received = received_};
  pcap_stat s{};
  if (live_ && pcap_stats(handle_, &s) == 0) {
    stats.dropped = s.ps_drop;
    stats.interface_dropped = s.ps_ifdrop;
  }
  return stats;
}

}  // namespace fogkeep::sensor
