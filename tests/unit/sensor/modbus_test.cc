// Modbus/TCP: requests and responses of every function with a range, pipelining, and MBAP
// headers that lie.
#include "sensor/modbus.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct Parsed {
  ModbusParse result;
  std::array<ModbusFrame, 8> frames;
};

Parsed Parse(const Bytes& payload, bool is_request) {
  Parsed parsed;
  parsed.result = ParseModbus(payload, is_request, parsed.frames);
  return parsed;
}

ModbusFrame One(const Bytes& payload, bool is_request) {
  Parsed parsed = Parse(payload, is_request);
  EXPECT_EQ(parsed.result.error, ModbusError::kNone) << ModbusErrorName(parsed.result.error);
  EXPECT_EQ(parsed.result.frames, 1u);
  return parsed.frames[0];
}

ModbusError ErrorOf(const Bytes& payload, bool is_request = true) {
  return Parse(payload, is_request).result.error;
}

Bytes Pdu(std::initializer_list<std::uint8_t> bytes) { return Bytes(bytes); }

TEST(ModbusTest, ReadRequests) {
  for (std::uint8_t fc : {1, 2, 3, 4}) {
    ModbusFrame f = One(ModbusReadRequest(0x1234, 17, fc, 100, 10), true);
    EXPECT_EQ(f.transaction_id, 0x1234);
    EXPECT_EQ(f.protocol_id, 0);
    EXPECT_EQ(f.length, 6);
    EXPECT_EQ(f.unit_id, 17);
    EXPECT_EQ(f.function_code, fc);
    EXPECT_TRUE(f.is_request);
    EXPECT_FALSE(f.is_exception);
    EXPECT_TRUE(f.has_range);
    EXPECT_EQ(f.start_address, 100);
    EXPECT_EQ(f.quantity, 10);
    EXPECT_FALSE(f.is_write);
  }
}

TEST(ModbusTest, WriteRequests) {
  ModbusFrame f = One(ModbusWriteSingle(1, 1, 5, 40, 0xff00), true);
  EXPECT_EQ(f.function_code, 5);
  EXPECT_TRUE(f.is_write);
  EXPECT_EQ(f.start_address, 40);
  EXPECT_EQ(f.quantity, 1);

  f = One(ModbusWriteSingle(1, 1, 6, 41, 1234), true);
  EXPECT_EQ(f.function_code, 6);
  EXPECT_TRUE(f.is_write);
  EXPECT_EQ(f.start_address, 41);

  std::array<std::uint16_t, 3> values{1, 2, 3};
  f = One(ModbusWriteRegisters(2, 9, 500, values), true);
  EXPECT_EQ(f.function_code, 16);
  EXPECT_TRUE(f.is_write);
  EXPECT_EQ(f.start_address, 500);
  EXPECT_EQ(f.quantity, 3);
  EXPECT_EQ(f.length, 1 + 6 + 6);

  // Write multiple coils: 10 coils in 2 bytes.
  f = One(ModbusAdu(3, 1, Pdu({15, 0, 20, 0, 10, 2, 0xff, 0x03})), true);
  EXPECT_EQ(f.function_code, 15);
  EXPECT_EQ(f.start_address, 20);
  EXPECT_EQ(f.quantity, 10);
  EXPECT_TRUE(f.is_write);

  // Mask write register.
  f = One(ModbusAdu(4, 1, Pdu({22, 0, 7, 0xf2, 0xf2, 0x00, 0x25})), true);
  EXPECT_EQ(f.function_code, 22);
  EXPECT_EQ(f.start_address, 7);
  EXPECT_EQ(f.quantity, 1);
  EXPECT_TRUE(f.is_write);

  // Read/write multiple registers: the range is the write part.
  f = One(ModbusAdu(5, 1, Pdu({23, 0, 3, 0, 6, 0, 14, 0, 3, 6, 0, 0xff, 0, 0xff, 0, 0xff})), true);
  EXPECT_EQ(f.function_code, 23);
  EXPECT_EQ(f.start_address, 14);
  EXPECT_EQ(f.quantity, 3);
  EXPECT_TRUE(f.is_write);

  // A function without a range.
  f = One(ModbusAdu(6, 1, Pdu({8, 0, 0, 0xa5, 0x37})), true);
  EXPECT_EQ(f.function_code, 8);
  EXPECT_FALSE(f.has_range);
  EXPECT_FALSE(f.is_write);
}

TEST(ModbusTest, IsModbusWrite) {
  for (int fc = 0; fc < 256; ++fc) {
    bool write = fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 22 || fc == 23;
    EXPECT_EQ(IsModbusWrite(static_cast<std::uint8_t>(fc)), write) << fc;
  }
}

TEST(ModbusTest, Responses) {
  ModbusFrame f = One(ModbusReadResponse(7, 1, 3, Bytes{0, 1, 0, 2}), false);
  EXPECT_FALSE(f.is_request);
  EXPECT_EQ(f.function_code, 3);
  EXPECT_FALSE(f.has_range);
  EXPECT_FALSE(f.is_write);

  f = One(ModbusWriteSingle(8, 1, 6, 41, 1234), false);  // the echo
  EXPECT_TRUE(f.is_write);
  EXPECT_TRUE(f.has_range);
  EXPECT_EQ(f.start_address, 41);

  f = One(ModbusAdu(9, 1, Pdu({16, 1, 244, 0, 3})), false);
  EXPECT_TRUE(f.is_write);
  EXPECT_EQ(f.start_address, 500);
  EXPECT_EQ(f.quantity, 3);

  EXPECT_EQ(ErrorOf(ModbusReadResponse(7, 1, 3, Bytes{0, 1, 0, 2}), false), ModbusError::kNone);
  Bytes lying_count = ModbusReadResponse(7, 1, 3, Bytes{0, 1, 0, 2});
  lying_count[8] = 6;  // byte count past the PDU
  EXPECT_EQ(ErrorOf(lying_count, false), ModbusError::kBadPdu);
}

TEST(ModbusTest, ExceptionResponses) {
  ModbusFrame f = One(ModbusException(10, 3, 16, 2), false);
  EXPECT_TRUE(f.is_exception);
  EXPECT_EQ(f.function_code, 16);
  EXPECT_EQ(f.exception_code, 2);
  EXPECT_TRUE(f.is_write);
  EXPECT_FALSE(f.has_range);
  EXPECT_EQ(f.unit_id, 3);

  f = One(ModbusException(11, 3, 3, 4), false);
  EXPECT_EQ(f.function_code, 3);
  EXPECT_EQ(f.exception_code, 4);
  EXPECT_FALSE(f.is_write);

  // Requests do not carry exceptions, and an exception is two PDU bytes exactly.
  EXPECT_EQ(ErrorOf(ModbusException(12, 1, 3, 2), true), ModbusError::kBadPdu);
  EXPECT_EQ(ErrorOf(ModbusAdu(13, 1, Pdu({0x83, 2, 0})), false), ModbusError::kBadPdu);
  EXPECT_EQ(ErrorOf(ModbusAdu(13, 1, Pdu({0x83})), false), ModbusError::kBadPdu);
}

TEST(ModbusTest, PipelinedAdus) {
  Bytes payload = ModbusReadRequest(1, 1, 3, 0, 4);
  Bytes second = ModbusWriteSingle(2, 1, 6, 9, 99);
  Bytes third = ModbusReadRequest(3, 2, 1, 16, 8);
  payload.insert(payload.end(), second.begin(), second.end());
  payload.insert(payload.end(), third.begin(), third.end());
  Parsed parsed = Parse(payload, true);
  EXPECT_EQ(parsed.result.error, ModbusError::kNone);
  ASSERT_EQ(parsed.result.frames, 3u);
  EXPECT_EQ(parsed.frames[0].transaction_id, 1);
  EXPECT_EQ(parsed.frames[1].transaction_id, 2);
  EXPECT_TRUE(parsed.frames[1].is_write);
  EXPECT_EQ(parsed.frames[2].unit_id, 2);
  EXPECT_EQ(parsed.frames[2].start_address, 16);

  // Room for two: the third is not looked at.
  std::array<ModbusFrame, 2> two;
  ModbusParse result = ParseModbus(payload, true, two);
  EXPECT_EQ(result.frames, 2u);
  EXPECT_EQ(result.error, ModbusError::kNone);

  // A bad third ADU keeps the first two and reports why it stopped.
  payload[payload.size() - 10] = 1;  // the third ADU's protocol id
  parsed = Parse(payload, true);
  EXPECT_EQ(parsed.result.frames, 2u);
  EXPECT_EQ(parsed.result.error, ModbusError::kNotModbus);

  // A pipelined ADU cut by the segment end.
  Bytes cut = ModbusReadRequest(1, 1, 3, 0, 4);
  cut.insert(cut.end(), second.begin(), second.begin() + 9);
  parsed = Parse(cut, true);
  EXPECT_EQ(parsed.result.frames, 1u);
  EXPECT_EQ(parsed.result.error, ModbusError::kTruncated);
}

TEST(ModbusTest, MbapHeaderChecks) {
  EXPECT_EQ(Parse({}, true).result.frames, 0u);
  EXPECT_EQ(ErrorOf({}), ModbusError::kNone);
  Bytes request = ModbusReadRequest(1, 1, 3, 0, 4);
  EXPECT_EQ(ErrorOf(Bytes(request.begin(), request.begin() + 6)), ModbusError::kTruncated);

  Bytes protocol = request;
  protocol[2] = 0x12;  // protocol id 0x1200
  EXPECT_EQ(ErrorOf(protocol), ModbusError::kNotModbus);

  auto with_length = [&](std::uint16_t length) {
    Bytes b = request;
    b[4] = static_cast<std::uint8_t>(length >> 8);
    b[5] = static_cast<std::uint8_t>(length);
    return b;
  };
  EXPECT_EQ(ErrorOf(with_length(0)), ModbusError::kBadLength);
  EXPECT_EQ(ErrorOf(with_length(1)), ModbusError::kBadLength);    // a unit id, no function
  EXPECT_EQ(ErrorOf(with_length(255)), ModbusError::kBadLength);  // PDU over 253 bytes
  EXPECT_EQ(ErrorOf(with_length(0xffff)), ModbusError::kBadLength);
  EXPECT_EQ(ErrorOf(with_length(7)), ModbusError::kTruncated);  // one byte more than sent
  EXPECT_EQ(ErrorOf(with_length(254)), ModbusError::kTruncated);
  EXPECT_EQ(ErrorOf(with_length(5)), ModbusError::kBadPdu);  // too short for function 3
  EXPECT_EQ(ErrorOf(with_length(2)), ModbusError::kBadPdu);

  // Too long for the function, with the bytes present: the trailing byte would be swallowed.
  Bytes longer = with_length(7);
  longer.push_back(0);
  EXPECT_EQ(ErrorOf(longer), ModbusError::kBadPdu);
}

TEST(ModbusTest, ByteCountsThatLie) {
  // Write multiple registers: 2 registers announced, byte count 4, only 2 bytes of values.
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({16, 0, 0, 0, 2, 4, 0, 1}))), ModbusError::kBadPdu);
  // Byte count matches the bytes but not the quantity.
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({16, 0, 0, 0, 3, 4, 0, 1, 0, 2}))), ModbusError::kBadPdu);
  // Coils: 9 coils need 2 bytes.
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({15, 0, 0, 0, 9, 1, 0xff}))), ModbusError::kBadPdu);
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({16, 0, 0, 0}))), ModbusError::kBadPdu);
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({23, 0, 0, 0, 1, 0, 0, 0, 1, 4, 0, 1}))),
            ModbusError::kBadPdu);
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({22, 0, 0, 0, 1}))), ModbusError::kBadPdu);
  EXPECT_EQ(ErrorOf(ModbusAdu(1, 1, Pdu({0x90, 2}))), ModbusError::kBadPdu);
}

TEST(ModbusTest, EveryCutOfAPipelinedSegment) {
  Bytes payload = ModbusWriteRegisters(1, 1, 0, std::array<std::uint16_t, 4>{1, 2, 3, 4});
  Bytes second = ModbusAdu(2, 1, Pdu({23, 0, 3, 0, 6, 0, 14, 0, 1, 2, 0, 0xff}));
  payload.insert(payload.end(), second.begin(), second.end());
  for (std::size_t n = 0; n <= payload.size(); ++n) {
    Bytes cut(payload.begin(), payload.begin() + n);
    for (bool request : {true, false}) {
      Parsed parsed = Parse(cut, request);
      std::size_t whole = n >= payload.size() ? 2 : n >= payload.size() - second.size() ? 1 : 0;
      if (request) {
        EXPECT_EQ(parsed.result.frames, whole) << n;
        EXPECT_EQ(parsed.result.error,
                  n == 0 || n == payload.size() - second.size() || n == payload.size()
                      ? ModbusError::kNone
                      : ModbusError::kTruncated)
            << n;
      }
    }
  }
}

}  // namespace
}  // namespace fogkeep::sensor
