#include "sensor/capture.h"

#include <pcap/pcap.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

namespace fogkeep::sensor {
namespace {

// The kernel hands over a ring block at most this long after its first packet (the read
// timeout), and a quiet live capture calls its idle handler this often, so idle flows expire
// on a quiet link.
constexpr int kReadTimeoutMs = 1000;
// A live capture waits for packets this long at a time.
constexpr int kPollSliceMs = 100;
// After a stop, a live capture goes on reading this long: the kernel hands over the ring's
// open block when its retire timer (the read timeout) fires, so every packet that arrived
// before the stop is read.
constexpr std::uint64_t kDrainUs = (kReadTimeoutMs + 500) * 1000ull;
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
  return live_ ? RunLive(on_frame, on_idle) : RunFile(on_frame);
}

Status Capture::RunFile(const FrameHandler& on_frame) {
  while (!stopping_.load(std::memory_order_acquire)) {
    pcap_pkthdr* header = nullptr;
    const std::uint8_t* data = nullptr;
    const int got = pcap_next_ex(handle_, &header, &data);
    if (got == 1) {
      Deliver(on_frame, *header, data);
    } else if (got == PCAP_ERROR) {
      // A file cut short ends the capture with what was read, as tcpdump does; say so.
      return Fail(ErrorCode::kInvalidInput,
                  "capture file truncated or corrupt: " + std::string(pcap_geterr(handle_)));
    } else {
      break;  // PCAP_ERROR_BREAK: the end of the file, or Stop()
    }
  }
  return {};
}

// Non-blocking reads between polls of a tenth of a second: libpcap's own blocking read on a
// TPACKET_V3 ring may wait for the next packet forever on a quiet link, so neither the idle
// handler nor a stop's drain could count on it returning.
Status Capture::RunLive(const FrameHandler& on_frame, const IdleHandler& on_idle) {
  char error[PCAP_ERRBUF_SIZE] = {};
  if (pcap_setnonblock(handle_, 1, error) != 0) {
    return Fail(ErrorCode::kUnavailable, std::string("capture: ") + error);
  }
  const int fd = pcap_get_selectable_fd(handle_);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, "capture: no selectable descriptor");
  struct Batch {
    Capture* capture;
    const FrameHandler* on_frame;
  } batch{this, &on_frame};
  const auto on_packet = [](u_char* user, const pcap_pkthdr* header, const u_char* data) {
    auto* b = reinterpret_cast<Batch*>(user);
    b->capture->Deliver(*b->on_frame, *header, data);
  };
  std::uint64_t last_activity = NowUs();
  while (true) {
    pollfd wait{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&wait, 1, kPollSliceMs) < 0 && errno != EINTR) {
      return Fail(ErrorCode::kUnavailable, ErrnoMessage("capture: poll", errno));
    }
    const int read = pcap_dispatch(handle_, -1, on_packet, reinterpret_cast<u_char*>(&batch));
    if (read < 0 && read != PCAP_ERROR_BREAK) {
      return Fail(ErrorCode::kUnavailable, std::string("capture failed: ") + pcap_geterr(handle_));
    }
    const std::uint64_t now = NowUs();
    if (read > 0) {
      last_activity = now;
    } else if (now - last_activity >= kReadTimeoutMs * 1000ull) {
      if (on_idle) on_idle(now);
      last_activity = now;
    }
    if (stopping_.load(std::memory_order_acquire) &&
        now - stop_requested_us_.load(std::memory_order_relaxed) >= kDrainUs) {
      break;
    }
  }
  return {};
}

void Capture::Deliver(const FrameHandler& on_frame, const pcap_pkthdr& header,
                      const std::uint8_t* data) {
  ++received_;
  const std::uint64_t timestamp_us = static_cast<std::uint64_t>(header.ts.tv_sec) * 1'000'000 +
                                     static_cast<std::uint64_t>(header.ts.tv_usec);
  on_frame(std::span<const std::uint8_t>(data, header.caplen), timestamp_us, header.len);
}

void Capture::Stop() {
  stop_requested_us_.store(NowUs(), std::memory_order_relaxed);
  stopping_.store(true, std::memory_order_release);
  // A live capture drains in RunLive(); a file stops at once.
  if (!live_) pcap_breakloop(handle_);
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
