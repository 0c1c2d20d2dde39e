// DNS messages (RFC 1035) as carried in one UDP datagram: the header and the first question.
//
// The name is decoded into a fixed buffer, so parsing allocates nothing. Compression pointers
// are followed only backwards (to an offset before the labels that lead to the pointer) and at
// most a bounded number of times, so a hostile message cannot loop or jump forward into bytes it
// has not described. For DNS over TCP the caller strips the two-byte length prefix first.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace fogkeep::sensor {

inline constexpr std::uint16_t kDnsPort = 53;

struct DnsMessage {
  std::uint16_t id = 0;
  bool is_response = false;
  std::uint8_t opcode = 0;
  std::uint8_t rcode = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  // The first question, when qdcount > 0 (has_question). qname is dot-separated without the
  // trailing dot, ASCII letters lowercased, other bytes as sent (a label may hold a '.' or
  // non-printing bytes); the root name is the empty string.
  bool has_question = false;
  std::array<char, 256> qname{};
  std::size_t qname_length = 0;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::size_t label_count = 0;
  std::size_t longest_label = 0;

  std::string_view name() const { return {qname.data(), qname_length}; }
};

// Resets `out` and parses `message`. Returns false when the message is malformed: shorter than
// its header, a question cut short, a label type other than a length or a pointer (which also
// catches label lengths over 63), a name over 255 bytes, a pointer that does not point
// backwards, or too many pointers.
bool ParseDns(std::span<const std::uint8_t> message, DnsMessage& out);

}  // namespace fogkeep::sensor
