// Bounded IPv4 fragment reassembly.
//
// Fragments are an old evasion channel (overlapping fragments that different hosts resolve
// differently, tiny first fragments, endless half-finished datagrams to exhaust memory), so the
// reassembler keeps hard limits: datagrams in progress, bytes per datagram, bytes in total, and
// a timeout measured in packet timestamps (never the wall clock, so a replayed capture behaves
// as it did live). A fragment whose bytes differ from bytes already received for the same
// offsets drops its datagram; an exact duplicate (common on mirror ports) is ignored.
//
// Memory: each of the max_datagrams slots keeps the buffer it has grown to (at most
// max_datagram_bytes) and a block bitmap allocated once, so allocation stops once the slots
// have grown and is bounded by max_datagrams * max_datagram_bytes (4 MiB by default). The
// budget bounds the bytes held by datagrams in progress at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sensor/packet.h"

namespace fogkeep::sensor {

struct ReassemblyLimits {
  std::size_t max_datagrams = 64;
  std::size_t max_datagram_bytes = 65535;  // the IP payload; at most 65,535
  std::size_t budget_bytes = 4 * 1024 * 1024;
  std::uint64_t timeout_us = 30'000'000;
};

struct ReassemblyCounters {
  std::uint64_t fragments = 0;    // fragments offered
  std::uint64_t reassembled = 0;  // datagrams completed
  std::uint64_t timed_out = 0;    // datagrams dropped unfinished after the timeout
  std::uint64_t evicted = 0;      // datagrams dropped for a new one (slots or budget)
  std::uint64_t overlaps = 0;     // datagrams dropped for fragments with conflicting bytes
  std::uint64_t too_large = 0;    // datagrams dropped for reaching past max_datagram_bytes
  // Datagrams dropped for fragments that contradict them: a fragment other than the last whose
  // length is not a multiple of 8, a second end, or data past the end.
  std::uint64_t inconsistent = 0;
};

class Ipv4Reassembler {
 public:
  explicit Ipv4Reassembler(ReassemblyLimits limits = {});

  // Takes one decoded IPv4 fragment (ip_version 4, is_fragment; its ip_payload and fragment
  // fields). Returns the datagram's transport bytes (the IP payload, header excluded) when this
  // fragment fills its last hole, otherwise an empty span. The returned span stays valid until
  // the next call on this reassembler. Datagrams older than the timeout are dropped first,
  // measured against the fragment's timestamp.
  std::span<const std::uint8_t> Add(const Packet& fragment);

  // Drops the datagrams started more than the timeout before now_us (packet time); for a
  // capture loop that wants to release memory while no fragments arrive.
  void Expire(std::uint64_t now_us);

  const ReassemblyCounters& counters() const { return counters_; }
  std::size_t in_progress() const { return in_progress_; }
  std::size_t held_bytes() const { return held_bytes_; }

 private:
  struct Datagram {
    bool active = false;
    IpAddress source;
    IpAddress destination;
    std::uint8_t protocol = 0;
    std::uint16_t id = 0;
    std::uint64_t started_us = 0;
    std::uint64_t sequence = 0;   // arrival order of the first fragment, for eviction
    std::size_t extent = 0;       // highest byte end received; what counts against the budget
    std::size_t end = 0;          // the datagram's length once its last fragment arrived, else 0
    std::size_t blocks_held = 0;  // 8-byte blocks received
    std::vector<std::uint8_t> bytes;
    std::vector<std::uint64_t> received;  // one bit per 8-byte block
  };

  Datagram* Find(const Packet& fragment);
  Datagram* Start(const Packet& fragment);
  void Drop(Datagram& datagram);
  bool Place(Datagram& datagram, std::size_t offset, std::span<const std::uint8_t> data);

  const ReassemblyLimits limits_;
  std::vector<Datagram> slots_;
  std::size_t in_progress_ = 0;
  std::size_t held_bytes_ = 0;
  std::uint64_t next_sequence_ = 0;
  ReassemblyCounters counters_;
};

}  // namespace fogkeep::sensor
