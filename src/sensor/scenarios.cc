#include "sensor/scenarios.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "sensor/synth.h"

namespace fogkeep::sensor {
namespace {

struct Scenario {
  std::string_view name;
  std::string_view summary;
};

constexpr std::array<Scenario, 12> kScenarios = {{
    {"modbus-polling", "an HMI polling three PLCs (reads only): silent"},
    {"modbus-write",
     "polling, writes from the engineering station 10.10.0.5 and from 10.10.0.66: one "
     "modbus-write (10.10.0.66; 10.10.0.5 must be an allowed writer)"},
    {"modbus-exceptions", "a PLC answering 12 reads with exceptions: one modbus-exceptions"},
    {"port-scan", "10.10.0.66 tries 200 TCP ports of one PLC: one port-scan"},
    {"host-sweep", "10.10.0.66 pings 100 addresses: one host-sweep"},
    {"syn-flood", "400 SYNs from spoofed sources to one PLC, never completed: one syn-flood"},
    {"dns-normal", "three clients and their resolver, a few NXDOMAIN typos: silent"},
    {"dns-tunnel",
     "50 queries with long random labels, all NXDOMAIN: one dns-tunnel and one dns-nxdomain"},
    {"arp-spoof", "the gateway's address claimed by another MAC: one arp-spoof"},
    {"new-talker",
     "12 s of polling, then a new client and a new port: one new-talker and one new-service "
     "(with a baseline learning period of 10 s)"},
    {"normal", "modbus-polling and dns-normal together: silent"},
    {"mixed", "the benchmark capture: --packets over --flows, 10 % Modbus, TLS, DNS, HTTP"},
}};

IpAddress Ip(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return IpAddress::V4((std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) |
                       (std::uint32_t{c} << 8) | d);
}

// Every host has a MAC made of its IPv4 address, so frames and ARP agree.
MacAddress MacOf(const IpAddress& ip) {
  const std::uint32_t v4 = ip.v4();
  return {0x02,
          0x00,
          static_cast<std::uint8_t>(v4 >> 24),
          static_cast<std::uint8_t>(v4 >> 16),
          static_cast<std::uint8_t>(v4 >> 8),
          static_cast<std::uint8_t>(v4)};
}

const IpAddress kHmi = Ip(10, 10, 0, 10);
const IpAddress kEngineering = Ip(10, 10, 0, 5);
const IpAddress kRogue = Ip(10, 10, 0, 66);
const IpAddress kResolver = Ip(10, 10, 0, 53);
const IpAddress kGateway = Ip(10, 10, 0, 1);
IpAddress Plc(int i) { return Ip(10, 10, 0, static_cast<std::uint8_t>(20 + i)); }

class Traffic {
 public:
  Traffic(std::uint64_t start_us, const FrameSink& sink) : now_us_(start_us), sink_(sink) {}

  std::uint64_t now() const { return now_us_; }
  void Advance(std::uint64_t us) { now_us_ += us; }
  Status Emit(std::span<const std::uint8_t> frame) {
    Advance(50);  // frames never share a timestamp, so the capture's order is unambiguous
    return sink_(now_us_, frame);
  }

  FrameEndpoints Between(const IpAddress& from, const IpAddress& to) const {
    FrameEndpoints e;
    e.source = from;
    e.destination = to;
    e.source_mac = MacOf(from);
    e.destination_mac = MacOf(to);
    return e;
  }

  FrameBuilder& frames() { return frames_; }

 private:
  std::uint64_t now_us_;
  const FrameSink& sink_;
  FrameBuilder frames_;
};

// One TCP connection with sequence numbers that add up, so tshark follows it as we do.
class TcpSession {
 public:
  TcpSession(Traffic& traffic, IpAddress client, std::uint16_t client_port, IpAddress server,
             std::uint16_t server_port)
      : t_(traffic),
        to_server_(traffic.Between(client, server)),
        to_client_(traffic.Between(server, client)),
        client_port_(client_port),
        server_port_(server_port),
        client_seq_(1000u + client_port),
        server_seq_(5000u + server_port) {}

  Status Open() {
    FK_TRY(Send(true, kTcpSyn, {}));
    FK_TRY(Send(false, kTcpSyn | kTcpAck, {}));
    return Send(true, kTcpAck, {});
  }
  Status Request(std::span<const std::uint8_t> payload) {
    return Send(true, kTcpPsh | kTcpAck, payload);
  }
  Status Reply(std::span<const std::uint8_t> payload) {
    return Send(false, kTcpPsh | kTcpAck, payload);
  }
  Status Close() {
    FK_TRY(Send(true, kTcpFin | kTcpAck, {}));
    FK_TRY(Send(false, kTcpFin | kTcpAck, {}));
    return Send(true, kTcpAck, {});
  }
  // The server refuses: RST|ACK to a SYN.
  Status Refuse() {
    FK_TRY(Send(true, kTcpSyn, {}));
    return Send(false, kTcpRst | kTcpAck, {});
  }

 private:
  Status Send(bool from_client, std::uint8_t flags, std::span<const std::uint8_t> payload) {
    std::uint32_t& seq = from_client ? client_seq_ : server_seq_;
    const std::uint32_t ack = from_client ? server_seq_ : client_seq_;
    TcpFields tcp{.source_port = from_client ? client_port_ : server_port_,
                  .destination_port = from_client ? server_port_ : client_port_,
                  .sequence = seq,
                  .acknowledgment = (flags & kTcpAck) ? ack : 0,
                  .flags = flags};
    FK_TRY(t_.Emit(t_.frames().Tcp(from_client ? to_server_ : to_client_, tcp, payload)));
    seq += static_cast<std::uint32_t>(payload.size()) + ((flags & (kTcpSyn | kTcpFin)) ? 1 : 0);
    return {};
  }

  Traffic& t_;
  FrameEndpoints to_server_;
  FrameEndpoints to_client_;
  std::uint16_t client_port_;
  std::uint16_t server_port_;
  std::uint32_t client_seq_;
  std::uint32_t server_seq_;
};

std::vector<std::uint8_t> Registers(std::size_t count) {
  std::vector<std::uint8_t> data(count * 2);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  return data;
}

// An HMI polling `plcs` PLCs `rounds` times, 200 ms apart, on one connection each.
Status ModbusPolling(Traffic& t, int plcs, int rounds) {
  std::vector<TcpSession> sessions;
  for (int i = 0; i < plcs; ++i) {
    sessions.emplace_back(t, kHmi, static_cast<std::uint16_t>(40'000 + i), Plc(i), 502);
    FK_TRY(sessions.back().Open());
  }
  std::uint16_t transaction = 1;
  const std::vector<std::uint8_t> registers = Registers(10);
  const std::vector<std::uint8_t> coils = {0x5a, 0x01};
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < sessions.size(); ++i) {
      FK_TRY(sessions[i].Request(ModbusReadRequest(transaction, 1, 3, 100, 10)));
      FK_TRY(sessions[i].Reply(ModbusReadResponse(transaction, 1, 3, registers)));
      ++transaction;
      FK_TRY(sessions[i].Request(ModbusReadRequest(transaction, 1, 1, 0, 16)));
      FK_TRY(sessions[i].Reply(ModbusReadResponse(transaction, 1, 1, coils)));
      ++transaction;
    }
    t.Advance(200'000);
  }
  for (TcpSession& session : sessions) FK_TRY(session.Close());
  return {};
}

Status ModbusWrites(Traffic& t) {
  FK_TRY(ModbusPolling(t, 2, 5));
  TcpSession engineering(t, kEngineering, 41'000, Plc(0), 502);
  FK_TRY(engineering.Open());
  const std::vector<std::uint8_t> write = ModbusWriteSingle(1, 1, 6, 40, 1234);
  FK_TRY(engineering.Request(write));
  FK_TRY(engineering.Reply(write));
  FK_TRY(engineering.Close());
  TcpSession rogue(t, kRogue, 41'001, Plc(1), 502);
  FK_TRY(rogue.Open());
  const std::array<std::uint16_t, 3> values = {1, 2, 3};
  // Requests and the PLC's answers: single writes are echoed, a multiple write is answered
  // with its start and quantity.
  const std::array<std::uint8_t, 5> written = {16, 0, 100, 0, values.size()};
  const std::vector<std::pair<std::vector<std::uint8_t>, std::vector<std::uint8_t>>> writes = {
      {ModbusWriteSingle(7, 1, 6, 40, 9999), ModbusWriteSingle(7, 1, 6, 40, 9999)},
      {ModbusWriteRegisters(8, 1, 100, values), ModbusAdu(8, 1, written)},
      {ModbusWriteSingle(9, 1, 5, 3, 0xff00), ModbusWriteSingle(9, 1, 5, 3, 0xff00)}};
  for (const auto& [request, answer] : writes) {
    FK_TRY(rogue.Request(request));
    FK_TRY(rogue.Reply(answer));
    t.Advance(100'000);
  }
  return rogue.Close();
}

Status ModbusExceptions(Traffic& t) {
  TcpSession session(t, kHmi, 40'100, Plc(2), 502);
  FK_TRY(session.Open());
  for (std::uint16_t i = 0; i < 12; ++i) {
    FK_TRY(session.Request(ModbusReadRequest(i, 1, 3, 9000, 10)));
    FK_TRY(session.Reply(ModbusException(i, 1, 3, 2)));  // illegal data address
    t.Advance(200'000);
  }
  return session.Close();
}

Status PortScan(Traffic& t) {
  for (std::uint16_t port = 1; port <= 200; ++port) {
    TcpSession probe(t, kRogue, static_cast<std::uint16_t>(50'000 + port), Plc(0), port);
    FK_TRY(probe.Refuse());
    t.Advance(2'000);
  }
  return {};
}

Status HostSweep(Traffic& t) {
  for (int i = 1; i <= 100; ++i) {
    const IpAddress target = Ip(10, 10, 1, static_cast<std::uint8_t>(i));
    const std::array<std::uint8_t, 12> echo = {
        0x12, 0x34, 0, static_cast<std::uint8_t>(i), 'f', 'o', 'g', 'k', 'e', 'e', 'p', '!'};
    FK_TRY(t.Emit(t.frames().Icmp(t.Between(kRogue, target), 8, 0, echo)));
    if (i % 10 == 0) FK_TRY(t.Emit(t.frames().Icmp(t.Between(target, kRogue), 0, 0, echo)));
    t.Advance(5'000);
  }
  return {};
}

Status SynFlood(Traffic& t) {
  for (int i = 0; i < 400; ++i) {
    const IpAddress spoofed = Ip(198, 51, 100, static_cast<std::uint8_t>(i % 250 + 1));
    const std::uint16_t port = static_cast<std::uint16_t>(1024 + i * 13);
    const FrameEndpoints in = t.Between(spoofed, Plc(0));
    const FrameEndpoints out = t.Between(Plc(0), spoofed);
    FK_TRY(t.Emit(t.frames().Tcp(
        in,
        TcpFields{
            .source_port = port, .destination_port = 502, .sequence = 77u * i, .flags = kTcpSyn})));
    FK_TRY(t.Emit(t.frames().Tcp(out, TcpFields{.source_port = 502,
                                                .destination_port = port,
                                                .sequence = 99u * i,
                                                .acknowledgment = 77u * i + 1,
                                                .flags = kTcpSyn | kTcpAck})));
    t.Advance(2'000);
  }
  return {};
}

Status DnsExchange(Traffic& t, const IpAddress& client, std::uint16_t id, const std::string& name,
                   std::uint8_t rcode) {
  const std::uint16_t port = static_cast<std::uint16_t>(30'000 + id);
  FK_TRY(t.Emit(t.frames().Udp(t.Between(client, kResolver), port, 53, DnsQuery(id, name, 1))));
  const std::array<IpAddress, 1> answer = {Ip(10, 10, 5, static_cast<std::uint8_t>(id))};
  const std::span<const IpAddress> answers =
      rcode == 0 ? std::span<const IpAddress>(answer) : std::span<const IpAddress>();
  return t.Emit(t.frames().Udp(t.Between(kResolver, client), 53, port,
                               DnsResponse(id, name, 1, rcode, answers)));
}

Status DnsNormal(Traffic& t) {
  const std::array<std::string, 6> names = {"historian.plant.example", "time.example.org",
                                            "updates.vendor.example",  "scada-web.plant.example",
                                            "mail.example.com",        "ntp1.plant.example"};
  for (std::uint16_t id = 1; id <= 200; ++id) {
    const IpAddress client = Ip(10, 10, 0, static_cast<std::uint8_t>(30 + id % 3));
    const bool typo = id % 40 == 0;
    FK_TRY(DnsExchange(t, client, id, typo ? "histroian.plant.example" : names[id % names.size()],
                       typo ? 3 : 0));
    t.Advance(50'000);
  }
  return {};
}

Status DnsTunnel(Traffic& t) {
  constexpr std::string_view kBase32 = "abcdefghijklmnopqrstuvwxyz234567";
  std::uint32_t state = 12345;
  for (std::uint16_t id = 1; id <= 50; ++id) {
    std::string label;
    for (int i = 0; i < 60; ++i) {
      state = state * 1103515245u + 12345u;
      label += kBase32[(state >> 16) % kBase32.size()];
    }
    FK_TRY(DnsExchange(t, Ip(10, 10, 0, 31), id, label + ".t.exfil.example", 3));
    t.Advance(100'000);
  }
  return {};
}

Status ArpReply(Traffic& t, const IpAddress& ip, const MacAddress& mac, const IpAddress& to) {
  FrameEndpoints e = t.Between(ip, to);
  e.source_mac = mac;
  return t.Emit(t.frames().Arp(e, 2, MacOf(to)));
}

Status ArpSpoof(Traffic& t) {
  for (int i = 0; i < 5; ++i) {
    FK_TRY(ArpReply(t, kGateway, MacOf(kGateway), kHmi));
    t.Advance(1'000'000);
  }
  const MacAddress attacker = {0x02, 0xba, 0xd0, 0x00, 0x00, 0x66};
  for (int i = 0; i < 5; ++i) {
    FK_TRY(ArpReply(t, kGateway, attacker, kHmi));
    t.Advance(1'000'000);
  }
  return {};
}

Status NewTalker(Traffic& t) {
  for (int i = 0; i < 12; ++i) {
    TcpSession poll(t, kHmi, static_cast<std::uint16_t>(42'000 + i), Plc(0), 502);
    FK_TRY(poll.Open());
    FK_TRY(poll.Request(ModbusReadRequest(static_cast<std::uint16_t>(i), 1, 3, 0, 4)));
    FK_TRY(poll.Reply(ModbusReadResponse(static_cast<std::uint16_t>(i), 1, 3, Registers(4))));
    FK_TRY(poll.Close());
    t.Advance(1'000'000);
  }
  TcpSession stranger(t, Ip(10, 10, 0, 77), 43'000, Plc(0), 502);
  FK_TRY(stranger.Open());
  FK_TRY(stranger.Close());
  TcpSession new_port(t, kHmi, 43'001, Plc(0), 22);
  FK_TRY(new_port.Open());
  return new_port.Close();
}

// The benchmark's capture: flows in waves of 100 at once, each a TCP session of about
// packets/flows frames; one in ten is Modbus polling, the rest HTTPS with a ClientHello, plain
// HTTP and DNS over UDP.
Status Mixed(Traffic& t, const ScenarioOptions& options) {
  const std::size_t flows = std::max<std::size_t>(options.flows, 1);
  const std::uint64_t per_flow = std::max<std::uint64_t>(options.packets / flows, 8);
  std::uint64_t emitted = 0;
  const std::vector<std::uint8_t> registers = Registers(10);
  const std::vector<std::uint8_t> hello = TlsClientHello("telemetry.vendor.example");
  const std::vector<std::uint8_t> http(400, 'x');
  constexpr std::size_t kWave = 100;
  for (std::size_t first = 0; first < flows && emitted < options.packets; first += kWave) {
    const std::size_t wave = std::min(kWave, flows - first);
    std::vector<TcpSession> sessions;
    sessions.reserve(wave);
    for (std::size_t i = 0; i < wave; ++i) {
      const std::size_t n = first + i;
      const IpAddress client = Ip(10, 20, static_cast<std::uint8_t>(n / 250 % 250),
                                  static_cast<std::uint8_t>(n % 250 + 1));
      const IpAddress server = Ip(10, 30, 0, static_cast<std::uint8_t>(n % 50 + 1));
      const std::uint16_t port = n % 10 == 0 ? 502 : (n % 10 < 7 ? 443 : 80);
      sessions.emplace_back(t, client, static_cast<std::uint16_t>(20'000 + n % 40'000), server,
                            port);
      FK_TRY(sessions.back().Open());
      emitted += 3;
    }
    for (std::uint64_t step = 0; step + 6 < per_flow && emitted < options.packets; step += 2) {
      for (std::size_t i = 0; i < wave; ++i) {
        const std::size_t n = first + i;
        const std::uint16_t tx = static_cast<std::uint16_t>(step);
        if (n % 10 == 0) {
          FK_TRY(sessions[i].Request(ModbusReadRequest(tx, 1, 3, 0, 10)));
          FK_TRY(sessions[i].Reply(ModbusReadResponse(tx, 1, 3, registers)));
        } else {
          FK_TRY(sessions[i].Request(step == 0 && n % 10 < 7 ? std::span(hello)
                                                             : std::span(http).first(100)));
          FK_TRY(sessions[i].Reply(http));
        }
        emitted += 2;
      }
      t.Advance(1'000);
    }
    for (TcpSession& session : sessions) FK_TRY(session.Close());
    emitted += 3 * wave;
    // DNS between waves: a query and its answer per wave.
    FK_TRY(DnsExchange(t, Ip(10, 20, 0, 1), static_cast<std::uint16_t>(first / kWave),
                       "historian.plant.example", 0));
    emitted += 2;
  }
  return {};
}

}  // namespace

std::span<const std::string_view> ScenarioNames() {
  static const std::array<std::string_view, kScenarios.size()> names = [] {
    std::array<std::string_view, kScenarios.size()> out;
    for (std::size_t i = 0; i < kScenarios.size(); ++i) out[i] = kScenarios[i].name;
    return out;
  }();
  return names;
}

std::string_view ScenarioSummary(std::string_view name) {
  for (const Scenario& s : kScenarios) {
    if (s.name == name) return s.summary;
  }
  return "";
}

Status GenerateScenario(std::string_view name, const ScenarioOptions& options,
                        const FrameSink& sink) {
  Traffic t(options.start_us, sink);
  if (name == "modbus-polling") return ModbusPolling(t, 3, 50);
  if (name == "modbus-write") return ModbusWrites(t);
  if (name == "modbus-exceptions") return ModbusExceptions(t);
  if (name == "port-scan") return PortScan(t);
  if (name == "host-sweep") return HostSweep(t);
  if (name == "syn-flood") return SynFlood(t);
  if (name == "dns-normal") return DnsNormal(t);
  if (name == "dns-tunnel") return DnsTunnel(t);
  if (name == "arp-spoof") return ArpSpoof(t);
  if (name == "new-talker") return NewTalker(t);
  if (name == "normal") {
    FK_TRY(ModbusPolling(t, 3, 50));
    return DnsNormal(t);
  }
  if (name == "mixed") return Mixed(t, options);
  std::string known;
  for (std::string_view n : ScenarioNames()) known += (known.empty() ? "" : ", ") + std::string(n);
  return Fail(ErrorCode::kInvalidInput,
              "unknown scenario \"" + std::string(name) + "\" (known: " + known + ")");
}

}  // namespace fogkeep::sensor
