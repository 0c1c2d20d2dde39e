// Modbus/TCP (MBAP) application data units, parsed from one TCP segment's payload.
//
// Several ADUs may be pipelined in one segment; all are parsed, up to the space the caller
// gives. The MBAP length is the framing, so a length that lies (too short for the function,
// longer than the bytes present, outside 2..254) stops the parse of the segment: nothing after
// it can be framed. There is no reassembly across segments; an ADU cut by the segment end is
// reported as kTruncated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace fogkeep::sensor {

inline constexpr std::uint16_t kModbusPort = 502;

struct ModbusFrame {
  std::uint16_t transaction_id = 0;
  std::uint16_t protocol_id = 0;
  std::uint16_t length = 0;  // the MBAP length: unit id + PDU
  std::uint8_t unit_id = 0;
  std::uint8_t function_code = 0;  // without the exception bit 0x80
  bool is_exception = false;
  std::uint8_t exception_code = 0;
  bool is_request = false;
  // The coils or registers addressed: read requests, write requests (for 23, the write part),
  // and the echoes in write responses (5, 6, 15, 16).
  bool has_range = false;
  std::uint16_t start_address = 0;
  std::uint16_t quantity = 0;
  bool is_write = false;  // the function writes (IsModbusWrite), request or response
};

enum class ModbusError : std::uint8_t {
  kNone = 0,
  kNotModbus,  // protocol id != 0
  kTruncated,  // a header, or the ADU its length announces, cut by the end of the segment
  kBadLength,  // MBAP length outside 2..254
  kBadPdu,     // a PDU too short or too long for its function, or a byte count that disagrees
};

struct ModbusParse {
  std::size_t frames = 0;                  // the frames written to `out`, all well formed
  ModbusError error = ModbusError::kNone;  // why parsing stopped before the end, if it did
};

// Parses the ADUs in `payload` into `out`, in order, stopping at the first malformed one or
// when `out` is full (then error is kNone and the rest is not looked at). `is_request` is the
// caller's view of the direction (towards port 502: request). An empty payload parses as no
// frames and no error.
ModbusParse ParseModbus(std::span<const std::uint8_t> payload, bool is_request,
                        std::span<ModbusFrame> out);

// Functions that change the state of the device: 5, 6, 15, 16, 22, 23.
bool IsModbusWrite(std::uint8_t function_code);

std::string_view ModbusErrorName(ModbusError error);

}  // namespace fogkeep::sensor
