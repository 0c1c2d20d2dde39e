// Capture: frames from libpcap, live from an interface or from a pcap/pcapng file, with an
// optional BPF filter.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "core/error.h"
#include "sensor/decode.h"

struct pcap;
struct pcap_pkthdr;

namespace fogkeep::sensor {

struct LiveOptions {
  std::string interface;
  std::string filter;  // BPF, as tcpdump takes it; empty: everything
  int snapshot_length = 65'535;
  bool promiscuous = true;      // a mirror port's traffic is addressed to other hosts
  int buffer_bytes = 16 << 20;  // the kernel ring: bursts wait here while a packet is analysed
};

struct CaptureStats {
  std::uint64_t received = 0;  // by the sensor
  std::uint64_t dropped = 0;   // by the kernel (ring full): the sensor fell behind
  std::uint64_t interface_dropped = 0;
};

class Capture {
 public:
  // For each frame: the captured bytes, their timestamp (µs since the epoch) and wire length.
  using FrameHandler = std::function<void(std::span<const std::uint8_t> frame,
                                          std::uint64_t timestamp_us, std::uint32_t wire_length)>;
  // Called about once a second while a live capture sees no frame, with the wall clock (µs).
  using IdleHandler = std::function<void(std::uint64_t now_us)>;

  static Result<std::unique_ptr<Capture>> OpenFile(const std::string& path,
                                                   const std::string& filter);
  static Result<std::unique_ptr<Capture>> OpenLive(const LiveOptions& options);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  LinkType link() const { return link_; }
  // Reads until the file ends, Stop() is called or the capture fails.
  Status Run(const FrameHandler& on_frame, const IdleHandler& on_idle);
  // Ends Run() soon; safe from a signal handler and from another thread. A file stops at
  // once. A live capture first reads what the kernel still holds: its ring hands over a
  // block of packets only when the block is full or retired by the read timeout, so Run()
  // goes on reading for one and a half read timeouts after the stop, and the packets seen
  // before the stop are not lost.
  void Stop();
  CaptureStats stats() const;

 private:
  Capture(pcap* handle, LinkType link, bool live);
  Status RunFile(const FrameHandler& on_frame);
  Status RunLive(const FrameHandler& on_frame, const IdleHandler& on_idle);
  void Deliver(const FrameHandler& on_frame, const pcap_pkthdr& header, const std::uint8_t* data);

  pcap* handle_;
  std::unique_ptr<char[]> file_buffer_;  // stdio's buffer for a file; outlives pcap_close
  const LinkType link_;
  const bool live_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> stop_requested_us_{0};  // when Stop() was called (live captures)
  std::uint64_t received_ = 0;
};

}  // namespace fogkeep::sensor
