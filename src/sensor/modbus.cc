#include "sensor/modbus.h"

#include "sensor/wire.h"

namespace fogkeep::sensor {

namespace {

using wire::Load16;

constexpr std::size_t kMbapHeader = 7;     // transaction, protocol, length, unit id
constexpr std::uint16_t kMinLength = 2;    // unit id + function code
constexpr std::uint16_t kMaxLength = 254;  // unit id + the 253-byte PDU limit

void SetRange(ModbusFrame& frame, std::uint16_t start, std::uint16_t quantity) {
  frame.has_range = true;
  frame.start_address = start;
  frame.quantity = quantity;
}

// Fills the PDU fields of `frame`; false when the PDU does not have the shape its function
// requires. Unknown functions are accepted as they are.
bool ParsePdu(std::span<const std::uint8_t> pdu, ModbusFrame& frame) {
  const std::uint8_t* p = pdu.data();
  std::size_t n = pdu.size();
  std::uint8_t code = p[0];
  if (code & 0x80) {
    if (frame.is_request || n != 2) return false;  // only responses carry exceptions
    frame.function_code = code & 0x7f;
    frame.is_write = IsModbusWrite(frame.function_code);
    frame.is_exception = true;
    frame.exception_code = p[1];
    return true;
  }
  frame.function_code = code;
  frame.is_write = IsModbusWrite(code);
  if (frame.is_request) {
    switch (code) {
      case 1:
      case 2:
      case 3:
      case 4:
        if (n != 5) return false;
        SetRange(frame, Load16(p + 1), Load16(p + 3));
        return true;
      case 5:
      case 6:
        if (n != 5) return false;
        SetRange(frame, Load16(p + 1), 1);
        return true;
      case 15:
      case 16: {
        if (n < 6) return false;
        std::uint16_t quantity = Load16(p + 3);
        std::size_t byte_count = p[5];
        std::size_t needed =
            code == 15 ? (std::size_t{quantity} + 7) / 8 : 2 * std::size_t{quantity};
        if (byte_count != n - 6 || byte_count != needed) return false;
        SetRange(frame, Load16(p + 1), quantity);
        return true;
      }
      case 22:
        if (n != 7) return false;
        SetRange(frame, Load16(p + 1), 1);
        return true;
      case 23: {
        if (n < 10) return false;
        std::uint16_t quantity = Load16(p + 7);
        std::size_t byte_count = p[9];
        if (byte_count != n - 10 || byte_count != 2 * std::size_t{quantity}) return false;
        SetRange(frame, Load16(p + 5), quantity);
        return true;
      }
      default:
        return true;
    }
  }
  switch (code) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 23:
      return n >= 2 && p[1] == n - 2;
    case 5:
    case 6:
      if (n != 5) return false;
      SetRange(frame, Load16(p + 1), 1);
      return true;
    case 15:
    case 16:
      if (n != 5) return false;
      SetRange(frame, Load16(p + 1), Load16(p + 3));
      return true;
    case 22:
      if (n != 7) return false;
      SetRange(frame, Load16(p + 1), 1);
      return true;
    default:
      return true;
  }
}

}  // namespace

bool IsModbusWrite(std::uint8_t function_code) {
  switch (function_code) {
    case 5:
    case 6:
    case 15:
    case 16:
    case 22:
    case 23:
      return true;
    default:
      return false;
  }
}

ModbusParse ParseModbus(std::span<const std::uint8_t> payload, bool is_request,
                        std::span<ModbusFrame> out) {
  ModbusParse result;
  std::size_t pos = 0;
  while (pos < payload.size() && result.frames < out.size()) {
    std::span<const std::uint8_t> rest = payload.subspan(pos);
    if (rest.size() < kMbapHeader) return {result.frames, ModbusError::kTruncated};
    ModbusFrame frame;
    frame.transaction_id = Load16(rest.data());
    frame.protocol_id = Load16(rest.data() + 2);
    frame.length = Load16(rest.data() + 4);
    frame.unit_id = rest[6];
    frame.is_request = is_request;
    if (frame.protocol_id != 0) return {result.frames, ModbusError::kNotModbus};
    if (frame.length < kMinLength || frame.length > kMaxLength) {
      return {result.frames, ModbusError::kBadLength};
    }
    std::size_t adu = std::size_t{6} + frame.length;
    if (rest.size() < adu) return {result.frames, ModbusError::kTruncated};
    if (!ParsePdu(rest.subspan(kMbapHeader, adu - kMbapHeader), frame)) {
      return {result.frames, ModbusError::kBadPdu};
    }
    out[result.frames++] = frame;
    pos += adu;
  }
  return result;
}

std::string_view ModbusErrorName(ModbusError error) {
  switch (error) {
    case ModbusError::kNone:
      return "none";
    case ModbusError::kNotModbus:
      return "not-modbus";
    case ModbusError::kTruncated:
      return "truncated";
    case ModbusError::kBadLength:
      return "bad-length";
    case ModbusError::kBadPdu:
      return "bad-pdu";
  }
  return "unknown";
}

}  // namespace fogkeep::sensor
