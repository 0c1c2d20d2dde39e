#include "sensor/reassembly.h"

#include <algorithm>
#include <cstring>

namespace fogkeep::sensor {

namespace {

constexpr std::size_t kBlock = 8;  // fragment offsets count 8-byte blocks
constexpr std::size_t kMaxIpv4Payload = 65535;
constexpr std::size_t kFirstBufferBytes = 2048;

std::size_t BlocksFor(std::size_t bytes) { return (bytes + kBlock - 1) / kBlock; }

bool Held(const std::vector<std::uint64_t>& bits, std::size_t block) {
  return (bits[block / 64] >> (block % 64) & 1) != 0;
}

ReassemblyLimits Clamp(ReassemblyLimits limits) {
  limits.max_datagrams = std::max<std::size_t>(limits.max_datagrams, 1);
  limits.max_datagram_bytes = std::min(limits.max_datagram_bytes, kMaxIpv4Payload);
  return limits;
}

}  // namespace

Ipv4Reassembler::Ipv4Reassembler(ReassemblyLimits limits)
    : limits_(Clamp(limits)), slots_(limits_.max_datagrams) {
  std::size_t words = (BlocksFor(limits_.max_datagram_bytes) + 63) / 64;
  for (Datagram& slot : slots_) slot.received.assign(words, 0);
}

std::span<const std::uint8_t> Ipv4Reassembler::Add(const Packet& fragment) {
  if (fragment.ip_version != 4 || !fragment.is_fragment) return {};
  ++counters_.fragments;
  Expire(fragment.timestamp_us);

  std::span<const std::uint8_t> data = fragment.ip_payload;
  std::size_t offset = fragment.fragment_offset;
  std::size_t end = offset + data.size();
  bool more = fragment.more_fragments;

  Datagram* datagram = Find(fragment);
  if (datagram == nullptr) datagram = Start(fragment);
  if (end > limits_.max_datagram_bytes) {
    ++counters_.too_large;
    Drop(*datagram);
    return {};
  }
  bool consistent = more ? data.size() % kBlock == 0 && (datagram->end == 0 || end <= datagram->end)
                         : (datagram->end == 0 || datagram->end == end) && datagram->extent <= end;
  if (!consistent) {
    ++counters_.inconsistent;
    Drop(*datagram);
    return {};
  }
  if (!more) datagram->end = end;

  if (end > datagram->extent) {
    std::size_t growth = end - datagram->extent;
    while (held_bytes_ + growth > limits_.budget_bytes) {
      // Make room by dropping the oldest other datagram; with none left, this one cannot fit.
      Datagram* oldest = nullptr;
      for (Datagram& slot : slots_) {
        if (slot.active && &slot != datagram && (!oldest || slot.sequence < oldest->sequence)) {
          oldest = &slot;
        }
      }
      ++counters_.evicted;
      if (oldest == nullptr) {
        Drop(*datagram);
        return {};
      }
      Drop(*oldest);
    }
    held_bytes_ += growth;
    datagram->extent = end;
    if (datagram->bytes.size() < end) {
      datagram->bytes.resize(
          std::min(limits_.max_datagram_bytes,
                   std::max({end, 2 * datagram->bytes.size(), kFirstBufferBytes})));
    }
  }
  if (!Place(*datagram, offset, data)) {
    ++counters_.overlaps;
    Drop(*datagram);
    return {};
  }
  if (datagram->end == 0 || datagram->blocks_held != BlocksFor(datagram->end)) return {};
  ++counters_.reassembled;
  std::span<const std::uint8_t> whole(datagram->bytes.data(), datagram->end);
  Drop(*datagram);  // the bytes stay in the slot's buffer until it is reused
  return whole;
}

void Ipv4Reassembler::Expire(std::uint64_t now_us) {
  if (in_progress_ == 0) return;
  for (Datagram& slot : slots_) {
    if (slot.active && now_us > slot.started_us && now_us - slot.started_us > limits_.timeout_us) {
      ++counters_.timed_out;
      Drop(slot);
    }
  }
}

Ipv4Reassembler::Datagram* Ipv4Reassembler::Find(const Packet& fragment) {
  if (in_progress_ == 0) return nullptr;
  std::uint16_t id = static_cast<std::uint16_t>(fragment.fragment_id);
  for (Datagram& slot : slots_) {
    if (slot.active && slot.id == id && slot.protocol == fragment.protocol &&
        slot.source == fragment.source && slot.destination == fragment.destination) {
      return &slot;
    }
  }
  return nullptr;
}

Ipv4Reassembler::Datagram* Ipv4Reassembler::Start(const Packet& fragment) {
  Datagram* chosen = nullptr;
  for (Datagram& slot : slots_) {
    if (!slot.active) {
      chosen = &slot;
      break;
    }
    if (chosen == nullptr || slot.sequence < chosen->sequence) chosen = &slot;
  }
  if (chosen->active) {
    ++counters_.evicted;
    Drop(*chosen);
  }
  chosen->active = true;
  chosen->source = fragment.source;
  chosen->destination = fragment.destination;
  chosen->protocol = fragment.protocol;
  chosen->id = static_cast<std::uint16_t>(fragment.fragment_id);
  chosen->started_us = fragment.timestamp_us;
  chosen->sequence = next_sequence_++;
  ++in_progress_;
  return chosen;
}

void Ipv4Reassembler::Drop(Datagram& datagram) {
  if (!datagram.active) return;
  std::size_t words = (BlocksFor(datagram.extent) + 63) / 64;
  std::fill_n(datagram.received.begin(), words, 0);
  held_bytes_ -= datagram.extent;
  --in_progress_;
  datagram.active = false;
  datagram.extent = 0;
  datagram.end = 0;
  datagram.blocks_held = 0;
}

bool Ipv4Reassembler::Place(Datagram& datagram, std::size_t offset,
                            std::span<const std::uint8_t> data) {
  if (data.empty()) return true;
  std::size_t first = offset / kBlock;
  std::size_t last = BlocksFor(offset + data.size());
  // Bytes already received must be repeated exactly: differing overlaps are how an attacker
  // shows the sensor one datagram and the target host another.
  for (std::size_t block = first; block < last; ++block) {
    if (!Held(datagram.received, block)) continue;
    std::size_t from = block * kBlock;
    std::size_t to = std::min(from + kBlock, offset + data.size());
    if (std::memcmp(datagram.bytes.data() + from, data.data() + (from - offset), to - from) != 0) {
      return false;
    }
  }
  std::memcpy(datagram.bytes.data() + offset, data.data(), data.size());
  for (std::size_t block = first; block < last; ++block) {
    std::uint64_t bit = std::uint64_t{1} << (block % 64);
    if ((datagram.received[block / 64] & bit) == 0) {
      datagram.received[block / 64] |= bit;
      ++datagram.blocks_held;
    }
  }
  return true;
}

}  // namespace fogkeep::sensor
