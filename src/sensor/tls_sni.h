// The server name a TLS client asks for (RFC 6066 server_name), read from the ClientHello at
// the start of a TCP payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace fogkeep::sensor {

// Finds the host_name in the server_name extension of the ClientHello carried by the first
// TLS record of `tcp_payload`, writes it to `out` (ASCII letters lowercased) and its length to
// `length`. Returns false when the payload is not a handshake record holding a ClientHello,
// when any length disagrees with its container (record, handshake, extensions, extension,
// name list), when the ClientHello has no host_name, or when the bytes up to the end of the
// host_name are not all in this payload (no reassembly across segments; a ClientHello cut
// after its server_name still yields the name). `out` is unspecified after false.
bool ParseClientHelloSni(std::span<const std::uint8_t> tcp_payload, std::array<char, 256>& out,
                         std::size_t& length);

}  // namespace fogkeep::sensor
