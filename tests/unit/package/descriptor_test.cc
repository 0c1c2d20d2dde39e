#include "package/descriptor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/support.h"

namespace fogkeep::package {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFixture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// One member of a fixture package, read with the system tar (the packages are the real IOx
// ones, kept byte for byte).
std::string TarMember(const std::string& archive, const std::string& member) {
  std::string command = "tar -xOf '" + archive + "' '" + member + "' 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  return ::pclose(pipe) == 0 ? out : std::string();
}

// A minimal runnable descriptor; tests splice in what they examine.
std::string Minimal(std::string_view app_extra = "", std::string_view info_extra = "") {
  return "descriptor-schema-version: \"2.2\"\n"
         "info:\n"
         "  name: demo\n"
         "  version: \"1.0\"\n" +
         std::string(info_extra) +
         "app:\n"
         "  type: docker\n"
         "  cpuarch: x86_64\n"
         "  startup:\n"
         "    rootfs: rootfs.tar\n"
         "    target: [/bin/demo]\n" +
         std::string(app_extra);
}

Descriptor Runnable() {
  auto d = ParseDescriptor(Minimal());
  EXPECT_TRUE(d) << d.error().message();
  EXPECT_TRUE(ValidateDescriptor(*d));
  return *d;
}

std::string ParseError(std::string_view yaml) {
  auto d = ParseDescriptor(yaml);
  if (d) return "(parsed)";
  return d.error().message();
}

std::string ValidationError(const Descriptor& d) {
  auto status = ValidateDescriptor(d);
  return status ? "(valid)" : status.error().message();
}

// --- The IOx samples ------------------------------------------------------------------------

// What fogkeep makes of each IOx sample. A new sample dropped into the fixtures fails
// EverySampleIsClassified until it is listed here.
struct SampleExpectation {
  bool parses;
  std::string error;  // substring of the parse error (when !parses) or validation error;
                      // empty when the sample validates
};
const std::map<std::string, SampleExpectation>& Samples() {
  static const auto* samples = new std::map<std::string, SampleExpectation>{
      {"Example_package.yaml", {true, ""}},
      {"schema_2.2_sample_docker_app.yaml", {true, ""}},
      // An app name with a space, and a rootfs named by a file:// URL on the developer's host
      // (the package member is its file name, app.ext2).
      {"schema_2.0_sample_lxc.yaml", {true, ""}},
      {"schema_2.1_sample_lxc.yaml", {true, ""}},
      {"schema_2.0_sample_paas.yaml", {true, "unsupported app type 'paas'"}},
      {"schema_2.1_sample_paas.yaml", {true, "unsupported app type 'paas'"}},
      {"schema_2.0_sample_vm.yaml", {true, "unsupported app type 'vm'"}},
      {"schema_2.1_sample_vm.yaml", {true, "unsupported app type 'vm'"}},
      {"schema_2.2_sample_vm_app.yaml", {true, "unsupported app type 'vm'"}},
      // Broken upstream: `file: "app.img` never closes its quote (PyYAML refuses it too).
      {"schema_2.1_sample_disk_vm.yaml", {false, "malformed YAML at line 37"}},
  };
  return *samples;
}

TEST(DescriptorSamplesTest, EverySampleIsClassified) {
  std::string dir = testing::SharedFixture("iox/descriptors");
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++count;
    EXPECT_TRUE(Samples().contains(entry.path().filename().string()))
        << "unclassified sample " << entry.path();
  }
  EXPECT_EQ(count, static_cast<int>(Samples().size()));
}

TEST(DescriptorSamplesTest, EachSampleParsesAndValidatesAsExpected) {
  for (const auto& [file, expected] : Samples()) {
    SCOPED_TRACE(file);
    std::string text = ReadFixture(testing::SharedFixture("iox/descriptors/" + file));
    ASSERT_FALSE(text.empty());
    auto d = ParseDescriptor(text);
    if (!expected.parses) {
      ASSERT_FALSE(d);
      EXPECT_EQ(d.error().code(), ErrorCode::kInvalidInput);
      EXPECT_THAT(d.error().message(), HasSubstr(expected.error));
      continue;
    }
    ASSERT_TRUE(d) << d.error().message();
    auto status = ValidateDescriptor(*d);
    if (expected.error.empty()) {
      EXPECT_TRUE(status) << status.error().message();
    } else {
      ASSERT_FALSE(status);
      EXPECT_EQ(status.error().code(), ErrorCode::kInvalidInput);
      EXPECT_THAT(status.error().message(), HasSubstr(expected.error));
    }
  }
}

TEST(DescriptorSamplesTest, ExamplePackageFields) {
  auto d =
      ParseDescriptor(ReadFixture(testing::SharedFixture("iox/descriptors/Example_package.yaml")));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->schema_version, "2.12");
  EXPECT_EQ(d->name, "wcs");
  EXPECT_EQ(d->version, "0.1");
  EXPECT_EQ(d->description, "Cisco Wired Client Sensor");
  EXPECT_EQ(d->author_name, "Cisco Systems, Inc.");
  EXPECT_EQ(d->author_link, "http://www.cisco.com");
  EXPECT_EQ(d->type, "docker");
  EXPECT_EQ(d->cpuarch, "x86_64");
  ASSERT_EQ(d->env.size(), 3u);
  EXPECT_EQ(d->env[0].first, "PATH");
  EXPECT_EQ(d->env[1], (std::pair<std::string, std::string>{"http_proxy",
                                                            "http://proxy-wsa.esl.cisco.com:80"}));
  EXPECT_EQ(d->resources.profile, "custom");
  EXPECT_EQ(d->resources.cpu_units, 54);
  EXPECT_EQ(d->resources.memory_mb, 64);
  EXPECT_EQ(d->resources.disk_mb, 2);
  ASSERT_EQ(d->resources.network.size(), 2u);
  EXPECT_EQ(d->resources.network[0].interface_name, "eth0");
  ASSERT_EQ(d->resources.network[0].ports.size(), 2u);
  EXPECT_EQ(d->resources.network[0].ports[0].protocol, "tcp");
  EXPECT_EQ(d->resources.network[0].ports[0].port, 8484);
  EXPECT_EQ(d->resources.network[0].ports[1].port, 8485);
  EXPECT_EQ(d->resources.network[1].interface_name, "eth1");
  ASSERT_EQ(d->resources.network[1].ports.size(), 2u);
  EXPECT_EQ(d->resources.network[1].ports[0].protocol, "udp");
  EXPECT_EQ(d->resources.network[1].ports[1].port, 9001);
  EXPECT_THAT(d->resources.devices, ElementsAre("serial", "usbdev"));
  EXPECT_EQ(d->startup.rootfs, "rootfs.tar");
  EXPECT_THAT(d->startup.target, ElementsAre("/usr/share/dsa/start.sh"));
  EXPECT_EQ(d->access_control, "oauth2");  // IOx puts it under app.resources here
  // No app.security section: fogkeep's defaults.
  EXPECT_TRUE(d->security.capabilities.empty());
  EXPECT_TRUE(d->security.readonly_rootfs);
  EXPECT_EQ(d->security.seccomp, "default");
  auto limits = ResolveResources(d->resources);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->memory_mb, 64);
  EXPECT_EQ(limits->cpu_units, 54);
}

TEST(DescriptorSamplesTest, DockerSampleTargetListAndPorts) {
  auto d = ParseDescriptor(
      ReadFixture(testing::SharedFixture("iox/descriptors/schema_2.2_sample_docker_app.yaml")));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_THAT(d->startup.target, ElementsAre("node", "/server.js"));
  ASSERT_EQ(d->resources.network.size(), 1u);
  ASSERT_EQ(d->resources.network[0].ports.size(), 1u);
  EXPECT_EQ(d->resources.network[0].ports[0].port, 8000);
  auto limits = ResolveResources(d->resources);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->memory_mb, 64);
  EXPECT_EQ(limits->cpu_units, 200);
}

TEST(DescriptorSamplesTest, LxcSampleRangesCommaListsAndTrailingSpaces) {
  auto d = ParseDescriptor(
      ReadFixture(testing::SharedFixture("iox/descriptors/schema_2.1_sample_lxc.yaml")));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->name, "sbot");                // "name: sbot " in the file
  EXPECT_EQ(d->startup.rootfs, "app.ext2");  // file:///mnt/hgfs/macshare/app.ext2
  EXPECT_EQ(d->type, "lxc");                 // "type: lxc " in the file
  ASSERT_EQ(d->resources.network.size(), 1u);
  const auto& ports = d->resources.network[0].ports;
  // tcp: 9000-9010 and 1111; udp: "10000-10010, 2000".
  auto count = [&](std::string_view protocol) {
    return std::count_if(ports.begin(), ports.end(),
                         [&](const PortMap& p) { return p.protocol == protocol; });
  };
  EXPECT_EQ(count("tcp"), 12);
  EXPECT_EQ(count("udp"), 12);
  EXPECT_EQ(ports.front().port, 9000);
  EXPECT_EQ(ports.back().port, 2000);
}

TEST(DescriptorSamplesTest, RealLxcPackageDescriptorValidates) {
  std::string text =
      TarMember(testing::SharedFixture("iox/nt02-c_simple_ir800-lxc.tar"), "package.yaml");
  ASSERT_FALSE(text.empty());
  auto d = ParseDescriptor(text);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->name, "nt02-c_simple");
  EXPECT_EQ(d->type, "lxc");
  EXPECT_EQ(d->startup.rootfs, "app.ext2");
  EXPECT_THAT(d->startup.target, ElementsAre("/sbin/init"));
  EXPECT_TRUE(ValidateDescriptor(*d)) << ValidationError(*d);
  auto limits = ResolveResources(d->resources);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->memory_mb, 64);
  EXPECT_EQ(limits->cpu_units, 500);
}

TEST(DescriptorSamplesTest, RealPaasPackageDescriptorParsesButIsUnsupported) {
  std::string text =
      TarMember(testing::SharedFixture("iox/python_restsense_1.0.0.tar.gz"), "package.yaml");
  ASSERT_FALSE(text.empty());
  auto d = ParseDescriptor(text);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->schema_version, "2.0");  // unquoted number in the file
  EXPECT_EQ(d->name, "RESTSense");      // trailing space in the file
  EXPECT_EQ(d->version, "1.6");
  EXPECT_EQ(d->type, "paas");
  EXPECT_THAT(d->startup.target, ElementsAre("main.py"));
  EXPECT_THAT(ValidationError(*d), HasSubstr("unsupported app type 'paas'"));
}

// --- Lenient where IOx is ------------------------------------------------------------------

TEST(DescriptorParseTest, ScalarsQuotedOrNot) {
  auto d = ParseDescriptor(
      "descriptor-schema-version: 2.10\n"
      "info: {name: \"demo \", version: 2.0}\n"
      "app:\n"
      "  type: docker\n"
      "  resources: {profile: custom, cpu: \"600\", memory: 128, disk: ' 10 '}\n");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->schema_version, "2.10");  // kept as written, not as a float
  EXPECT_EQ(d->name, "demo");
  EXPECT_EQ(d->version, "2.0");
  EXPECT_EQ(d->resources.cpu_units, 600);
  EXPECT_EQ(d->resources.memory_mb, 128);
  EXPECT_EQ(d->resources.disk_mb, 10);
}

TEST(DescriptorParseTest, StringTargetIsSplitOnBlanksAndArgsAppended) {
  auto d = ParseDescriptor(
      "info: {name: demo, version: '1'}\n"
      "app:\n"
      "  type: docker\n"
      "  startup:\n"
      "    rootfs: rootfs.tar\n"
      "    target: \"/bin/demo  --port\t80 \"\n"
      "    args: [--verbose, \"two words\"]\n");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_THAT(d->startup.target,
              ElementsAre("/bin/demo", "--port", "80", "--verbose", "two words"));
}

TEST(DescriptorParseTest, PortForms) {
  auto d = ParseDescriptor(Minimal(
      "  resources:\n"
      "    network:\n"
      "      - interface-name: eth0\n"
      "        ports:\n"
      "          tcp: [80, \"443\", \" 8000 - 8002 \", {port: \"9000\", description: api}, 80]\n"
      "          udp: 5353\n"
      "          sctp: [1]\n"));  // unknown protocols are ignored like any unknown key
  ASSERT_TRUE(d) << d.error().message();
  std::vector<std::string> got;
  for (const PortMap& p : d->resources.network[0].ports) {
    got.push_back(p.protocol + "/" + std::to_string(p.port));
  }
  // Duplicates (80) are dropped, ranges expanded, order kept.
  EXPECT_THAT(got, ElementsAre("tcp/80", "tcp/443", "tcp/8000", "tcp/8001", "tcp/8002", "tcp/9000",
                               "udp/5353"));
  EXPECT_TRUE(ValidateDescriptor(*d));
}

TEST(DescriptorParseTest, BadPorts) {
  auto with_port = [](std::string_view port) {
    return Minimal(
        "  resources:\n"
        "    network:\n"
        "      - interface-name: eth0\n"
        "        ports:\n"
        "          tcp: [" +
        std::string(port) + "]\n");
  };
  EXPECT_THAT(ParseError(with_port("0")),
              HasSubstr("app.resources.network[0].ports.tcp[0]: expected a port number 1..65535"));
  EXPECT_THAT(ParseError(with_port("65536")), HasSubstr("1..65535"));
  EXPECT_THAT(ParseError(with_port("-1")), HasSubstr("1..65535"));
  EXPECT_THAT(ParseError(with_port("http")), HasSubstr("found 'http'"));
  EXPECT_THAT(ParseError(with_port("\"9010-9000\"")), HasSubstr("ends before it starts"));
  EXPECT_THAT(ParseError(with_port("\"\"")), HasSubstr("expected a port"));
  EXPECT_THAT(ParseError(with_port("[80]")), HasSubstr("found a list"));
  EXPECT_THAT(ParseError(with_port("{description: x}")),
              HasSubstr("port: required field is missing"));
  auto huge = ParseDescriptor(with_port("\"1-65535\""));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kLimit);
  EXPECT_THAT(huge.error().message(), HasSubstr("more than 4096 ports"));
}

TEST(DescriptorParseTest, UnknownKeysAreIgnoredAndNullsMeanUnset) {
  auto d =
      ParseDescriptor(Minimal("  kernel-version: \"3.8\"\n"
                              "  monitor: {script: /health.sh}\n"
                              "  env:\n"
                              "    EMPTY:\n"
                              "    NUM: 42\n"
                              "  resources:\n"
                              "    profile:\n"
                              "    memory:\n"
                              "    broker: [Broker]\n"
                              "    network:\n"
                              "  security:\n",
                              "  extra: [1, 2]\n"));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->resources.profile, "");
  EXPECT_FALSE(d->resources.memory_mb);
  EXPECT_TRUE(d->resources.network.empty());
  ASSERT_EQ(d->env.size(), 2u);
  EXPECT_EQ(d->env[0].second, "");
  EXPECT_EQ(d->env[1].second, "42");
  EXPECT_TRUE(ValidateDescriptor(*d));
}

TEST(DescriptorParseTest, SecuritySection) {
  auto d =
      ParseDescriptor(Minimal("  security:\n"
                              "    capabilities: [CAP_NET_BIND_SERVICE, \" CAP_NET_RAW\"]\n"
                              "    readonly-rootfs: False\n"
                              "    seccomp: default\n"));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_THAT(d->security.capabilities, ElementsAre("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"));
  EXPECT_FALSE(d->security.readonly_rootfs);
  EXPECT_FALSE(d->security.host_network);
  EXPECT_TRUE(ValidateDescriptor(*d));

  auto host = ParseDescriptor(Minimal("  security:\n    host-network: true\n"));
  ASSERT_TRUE(host) << host.error().message();
  EXPECT_TRUE(host->security.host_network);
  EXPECT_THAT(ParseError(Minimal("  security:\n    host-network: often\n")),
              HasSubstr("app.security.host-network: expected true or false"));

  auto single = ParseDescriptor(Minimal("  security: {capabilities: CAP_KILL}\n"));
  ASSERT_TRUE(single);
  EXPECT_THAT(single->security.capabilities, ElementsAre("CAP_KILL"));
}

TEST(DescriptorParseTest, NetworkMonitor) {
  auto plain = ParseDescriptor(Minimal());
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->resources.network_monitor);

  for (const char* yes : {"true", "True", "yes", "on"}) {
    auto d =
        ParseDescriptor(Minimal("  resources:\n    network-monitor: " + std::string(yes) + "\n"));
    ASSERT_TRUE(d) << yes << ": " << d.error().message();
    EXPECT_TRUE(d->resources.network_monitor) << yes;
    EXPECT_TRUE(ValidateDescriptor(*d)) << ValidationError(*d);
  }
  auto off = ParseDescriptor(Minimal("  resources:\n    network-monitor: false\n"));
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->resources.network_monitor);

  // Only a boolean: the interface is the node's choice, never the package's.
  for (const char* bad : {"span0", "{interface: span0}", "[eth0]", "1", "\"\""}) {
    EXPECT_THAT(
        ParseError(Minimal("  resources:\n    network-monitor: " + std::string(bad) + "\n")),
        HasSubstr("app.resources.network-monitor: expected true or false"))
        << bad;
  }
}

TEST(DescriptorValidateTest, NetworkMonitorStandsAlone) {
  auto with_interface =
      ParseDescriptor(Minimal("  resources:\n"
                              "    network-monitor: true\n"
                              "    network:\n"
                              "      - interface-name: eth0\n"));
  ASSERT_TRUE(with_interface) << with_interface.error().message();
  EXPECT_THAT(ValidationError(*with_interface),
              HasSubstr("app.resources.network-monitor cannot be combined with "
                        "app.resources.network"));

  auto with_host =
      ParseDescriptor(Minimal("  resources:\n"
                              "    network-monitor: true\n"
                              "  security:\n"
                              "    host-network: true\n"));
  ASSERT_TRUE(with_host) << with_host.error().message();
  EXPECT_THAT(ValidationError(*with_host),
              HasSubstr("app.resources.network-monitor cannot be combined with "
                        "app.security.host-network"));

  // Declaring no interface beside it is fine; so is host networking without it.
  auto empty_list =
      ParseDescriptor(Minimal("  resources:\n    network-monitor: true\n    network: []\n"));
  ASSERT_TRUE(empty_list);
  EXPECT_TRUE(ValidateDescriptor(*empty_list));
}

TEST(DescriptorParseTest, AccessControlScalarOrMap) {
  auto scalar = ParseDescriptor(Minimal("  access-control: oauth2\n"));
  ASSERT_TRUE(scalar);
  EXPECT_EQ(scalar->access_control, "oauth2");
  auto map = ParseDescriptor(Minimal("  access-control: {type: oauth2, role: [OauthClient]}\n"));
  ASSERT_TRUE(map);
  EXPECT_EQ(map->access_control, "oauth2");
  EXPECT_TRUE(map->access_control_scopes.empty());
  auto scoped = ParseDescriptor(
      Minimal("  access-control: {type: oauth2, scopes: [platform.read, metrics.read]}\n"));
  ASSERT_TRUE(scoped);
  EXPECT_EQ(scoped->access_control_scopes,
            (std::vector<std::string>{"platform.read", "metrics.read"}));
  EXPECT_THAT(ParseError(Minimal("  access-control: {type: oauth2, scopes: {a: b}}\n")),
              HasSubstr("app.access-control.scopes"));
  EXPECT_THAT(ParseError(Minimal("  access-control: [oauth2]\n")),
              HasSubstr("app.access-control: expected a string, found a list"));
}

TEST(DescriptorParseTest, EveryIoxTypeParses) {
  for (const std::string& type :
       std::vector<std::string>{"docker", "lxc", "paas", "vm", "something-new"}) {
    auto d = ParseDescriptor("info: {name: a, version: '1'}\napp: {type: " + type + "}\n");
    ASSERT_TRUE(d) << type << ": " << d.error().message();
    EXPECT_EQ(d->type, type);
  }
}

// --- Strict on types -----------------------------------------------------------------------

TEST(DescriptorParseTest, WrongTypesNameTheFieldAndLine) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {Minimal("  resources:\n    memory:\n      size: 64\n"),
       "app.resources.memory: expected an integer, found a map (line 13)"},
      {Minimal("  resources:\n    memory: 64MB\n"),
       "app.resources.memory: expected an integer, found '64MB' (line 12)"},
      {Minimal("  resources:\n    cpu: [1]\n"), "app.resources.cpu: expected an integer"},
      {Minimal("  resources:\n    disk: 1.5\n"), "app.resources.disk: expected an integer"},
      {Minimal("  resources:\n    memory: 99999999999\n"),
       "app.resources.memory: integer '99999999999' is out of range"},
      {Minimal("  resources: [a]\n"), "app.resources: expected a map, found a list (line 11)"},
      {Minimal("  resources:\n    profile: {name: c1.small}\n"),
       "app.resources.profile: expected a string, found a map"},
      {Minimal("  resources:\n    network: {interface-name: eth0}\n"),
       "app.resources.network: expected a list, found a map"},
      {Minimal("  resources:\n    network: [eth0]\n"),
       "app.resources.network[0]: expected a map, found 'eth0'"},
      {Minimal("  resources:\n    network: [{ports: {tcp: [80]}}]\n"),
       "app.resources.network[0].interface-name: required field is missing"},
      {Minimal("  resources:\n    network: [{interface-name: eth0, ports: [80]}]\n"),
       "app.resources.network[0].ports: expected a map, found a list"},
      {Minimal("  resources:\n    network: [{interface-name: eth0, ports: {tcp: {a: 1}}}]\n"),
       "app.resources.network[0].ports.tcp: expected a list of ports, found a map"},
      {Minimal("  resources:\n    devices: [{label: x}]\n"),
       "app.resources.devices[0].type: required field is missing"},
      {Minimal("  resources:\n    devices: serial\n"), "app.resources.devices: expected a list"},
      {Minimal("  env: [A=1]\n"), "app.env: expected a map, found a list"},
      {Minimal("  env:\n    A: [1]\n"), "app.env.A: expected a string, found a list"},
      {Minimal("  security:\n    readonly-rootfs: maybe\n"),
       "app.security.readonly-rootfs: expected true or false, found 'maybe'"},
      {Minimal("  security:\n    capabilities: {CAP_KILL: true}\n"),
       "app.security.capabilities: expected a string or a list of strings, found a map"},
      {Minimal("  security:\n    capabilities: [[CAP_KILL]]\n"),
       "app.security.capabilities[0]: expected a string, found a list"},
      {Minimal("  cpuarch2: x\n  startup2: {}\n  security: yes\n"),
       "app.security: expected a map, found 'yes'"},
      {"info: {name: [a], version: '1'}\napp: {type: docker}\n",
       "info.name: expected a string, found a list (line 1)"},
      {"info: {name: a, version: {major: 1}}\napp: {type: docker}\n",
       "info.version: expected a string, found a map"},
      {"info: {name: a, version: '1'}\napp: {type: [docker]}\n",
       "app.type: expected a string, found a list"},
      {"info: a\napp: {type: docker}\n", "info: expected a map, found 'a' (line 1)"},
      {"info: {name: a, version: '1'}\napp: {type: docker, startup: {target: {a: b}}}\n",
       "app.startup.target: expected a string or a list of strings, found a map"},
      {"info: {name: a, version: '1'}\napp: {type: docker, startup: {target: [a, ~]}}\n",
       "app.startup.target[1]: expected a string, found nothing"},
      {"info: {name: a, version: '1'}\napp: {type: docker, startup: {rootfs: [r]}}\n",
       "app.startup.rootfs: expected a string"},
      {"info: {name: a, version: '1', description: {a: b}}\napp: {type: docker}\n",
       "info.description: expected a string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    auto d = ParseDescriptor(c.yaml);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code(), ErrorCode::kInvalidInput);
    EXPECT_THAT(d.error().message(), HasSubstr(c.error));
  }
}

TEST(DescriptorParseTest, MissingRequiredFields) {
  EXPECT_THAT(ParseError("info: {version: '1'}\napp: {type: docker}\n"),
              HasSubstr("info.name: required field is missing (line 1)"));
  EXPECT_THAT(ParseError("info: {name: a}\napp: {type: docker}\n"),
              HasSubstr("info.version: required field is missing"));
  EXPECT_THAT(ParseError("info: {name: a, version: '1'}\napp: {cpuarch: x86_64}\n"),
              HasSubstr("app.type: required field is missing"));
  EXPECT_THAT(ParseError("info: {name: a, version: '1'}\napp: {type: '  '}\n"),
              HasSubstr("app.type: must not be empty"));
  EXPECT_THAT(ParseError("info: {name: ~, version: '1'}\napp: {type: docker}\n"),
              HasSubstr("info.name: required field is missing"));
  EXPECT_THAT(ParseError("app: {type: docker}\n"), HasSubstr("info: required section is missing"));
  EXPECT_THAT(ParseError("info: {name: a, version: '1'}\n"),
              HasSubstr("app: required section is missing"));
  EXPECT_THAT(ParseError(""), HasSubstr("expected a map with 'info' and 'app' at the top level"));
  EXPECT_THAT(ParseError("- info\n- app\n"), HasSubstr("found a list"));
  EXPECT_THAT(ParseError("just text"), HasSubstr("found 'just text'"));
}

// --- Hostile YAML ---------------------------------------------------------------------------

TEST(DescriptorParseTest, MalformedYaml) {
  for (std::string_view text : {"info: [1, 2\n", "info:\n  name: \"open\n", "a: b: c\n",
                                "info: {name: a, name: b}\n", "\t- x\n", "%YAML 9.9\n---\na\n"}) {
    SCOPED_TRACE(text);
    auto d = ParseDescriptor(text);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code(), ErrorCode::kInvalidInput);
  }
  EXPECT_THAT(ParseError("info: {name: a, name: b}\n"), HasSubstr("duplicate key 'name'"));
  EXPECT_THAT(ParseError("info:\n  name: a\n  version: [1\n"), HasSubstr("line"));
}

TEST(DescriptorParseTest, AliasBombIsRefused) {
  // "Billion laughs": nine levels of ten references expand to 10^9 nodes.
  std::string bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = c;
  }
  bomb += "info: {name: *i, version: '1'}\napp: {type: docker}\n";
  auto d = ParseDescriptor(bomb);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kLimit);
  EXPECT_THAT(d.error().message(), HasSubstr("alias bomb"));
}

TEST(DescriptorParseTest, SelfReferencingAliasIsRefused) {
  auto d = ParseDescriptor("info: &x {name: a, version: '1', self: *x}\napp: {type: docker}\n");
  // Either yaml-cpp refuses the forward reference or the depth limit stops the cycle.
  ASSERT_FALSE(d);
}

TEST(DescriptorParseTest, DeepNestingIsRefused) {
  for (int depth : {40, 1000, 100000}) {
    SCOPED_TRACE(depth);
    std::string deep = "info: " + std::string(depth, '[') + std::string(depth, ']') + "\n";
    auto d = ParseDescriptor(deep);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code(), ErrorCode::kLimit);
    EXPECT_THAT(d.error().message(), HasSubstr("nesting deeper than"));
  }
  std::string block = "info:\n";
  for (int i = 1; i < 100; ++i) block += std::string(2 * i, ' ') + "k:\n";
  auto d = ParseDescriptor(block);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kLimit);
}

TEST(DescriptorParseTest, OversizedDocumentIsRefused) {
  std::string big = Minimal() + "# " + std::string(300 * 1024, 'x') + "\n";
  auto d = ParseDescriptor(big);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kLimit);
}

TEST(DescriptorParseTest, WideMapsStayFast) {
  // A map as wide as the descriptor's node budget allows. The YAML reader's duplicate-key
  // check was quadratic; at this size that cost about a second under ASan.
  std::string wide = Minimal() + "  junk:\n";
  for (int i = 0; i < 9000; ++i) wide += "    k" + std::to_string(i) + ": 0\n";
  auto start = std::chrono::steady_clock::now();
  auto d = ParseDescriptor(wide);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(DescriptorParseTest, BinaryGarbageIsAnError) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 131 + 7) % 256);
  EXPECT_FALSE(ParseDescriptor(garbage));
  EXPECT_FALSE(ParseDescriptor(std::string("info:\0 {name: a}\n", 18)));
}

// --- Validation ----------------------------------------------------------------------------

TEST(DescriptorValidateTest, UnsupportedAndUnknownTypes) {
  Descriptor d = Runnable();
  for (const std::string& type : std::vector<std::string>{"paas", "vm", "windows", "Docker", ""}) {
    d.type = type;
    auto status = ValidateDescriptor(d);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidInput);
    EXPECT_THAT(status.error().message(), HasSubstr("unsupported app type '" + type + "'"));
  }
  d.type = "lxc";
  EXPECT_TRUE(ValidateDescriptor(d));
}

TEST(DescriptorValidateTest, Names) {
  Descriptor d = Runnable();
  for (const std::string& good : std::vector<std::string>{
           "a", "A.b_c-1", "9lives", "Sensorbot-Custom Scripts", std::string(64, 'n')}) {
    d.name = good;
    EXPECT_TRUE(ValidateDescriptor(d)) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "../x", "..", ".hidden", "-rf", "a/b", "caf\xc3\xa9",
                                std::string(65, 'n'), std::string("a\0b", 3), "a\nb"}) {
    d.name = bad;
    EXPECT_THAT(ValidationError(d), HasSubstr("info.name")) << bad;
  }
}

TEST(DescriptorValidateTest, Versions) {
  Descriptor d = Runnable();
  for (const std::string& good : std::vector<std::string>{"1", "1.0.0", "2.0-rc1", "1.0+build.5",
                                                          "v1_2", std::string(64, '1')}) {
    d.version = good;
    EXPECT_TRUE(ValidateDescriptor(d)) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "1.0 beta", "1/2", "..", std::string(65, '1'), "1.0;rm"}) {
    d.version = bad;
    EXPECT_THAT(ValidationError(d), HasSubstr("info.version")) << bad;
  }
}

TEST(DescriptorValidateTest, RootfsAndTarget) {
  Descriptor d = Runnable();
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "../rootfs.tar", "dir/rootfs.tar", "/rootfs.tar",
                                "a..b", "file:///mnt/app.ext2", std::string("r\0.tar", 6)}) {
    d.startup.rootfs = bad;
    EXPECT_THAT(ValidationError(d), HasSubstr("app.startup.rootfs")) << bad;
  }
  d = Runnable();
  d.startup.target.clear();
  EXPECT_THAT(ValidationError(d), HasSubstr("app.startup.target is required"));
  d.startup.target = {""};
  EXPECT_THAT(ValidationError(d), HasSubstr("app.startup.target is required"));
  d.startup.target = {"/bin/app", std::string("a\0b", 3)};
  EXPECT_THAT(ValidationError(d), HasSubstr("NUL"));
  d.startup.target = std::vector<std::string>(300, "x");
  EXPECT_THAT(ValidationError(d), HasSubstr("more than 256 arguments"));
  d.startup.target = {"/bin/app", std::string(70 * 1024, 'x')};
  EXPECT_THAT(ValidationError(d), HasSubstr("exceed"));
}

TEST(DescriptorValidateTest, MissingStartupForDockerAndLxc) {
  auto d = ParseDescriptor("info: {name: a, version: '1'}\napp: {type: lxc}\n");
  ASSERT_TRUE(d);
  std::string error = ValidationError(*d);
  EXPECT_THAT(error, HasSubstr("app.startup.rootfs is required"));
  EXPECT_THAT(error, HasSubstr("app.startup.target is required"));  // all problems at once
}

TEST(DescriptorValidateTest, UserWorkdirEnv) {
  Descriptor d = Runnable();
  for (const std::string& good :
       std::vector<std::string>{"app", "1000", "1000:1000", "app:staff", "0"}) {
    d.startup.user = good;
    EXPECT_TRUE(ValidateDescriptor(d)) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"a b", ":", "app:", "4294967295", "99999999999", "a;b"}) {
    d.startup.user = bad;
    EXPECT_THAT(ValidationError(d), HasSubstr("app.startup.user")) << bad;
  }
  d = Runnable();
  d.startup.workdir = "/srv/app";
  EXPECT_TRUE(ValidateDescriptor(d));
  for (const std::string& bad : std::vector<std::string>{"srv", "/srv/../etc", "/..", "/a\nb"}) {
    d.startup.workdir = bad;
    EXPECT_THAT(ValidationError(d), HasSubstr("app.startup.workdir")) << bad;
  }
  d = Runnable();
  d.env = {{"A", "1"}, {"A", "2"}};
  EXPECT_THAT(ValidationError(d), HasSubstr("set twice"));
  d.env = {{"A=B", "1"}};
  EXPECT_THAT(ValidationError(d), HasSubstr("variable name"));
  d.env = {{"", "1"}};
  EXPECT_THAT(ValidationError(d), HasSubstr("variable name"));
  d.env = {{"A", std::string("x\0y", 3)}};
  EXPECT_THAT(ValidationError(d), HasSubstr("NUL"));
}

TEST(DescriptorValidateTest, Capabilities) {
  Descriptor d = Runnable();
  d.security.capabilities = {"CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_CHECKPOINT_RESTORE",
                             "CAP_BPF", "CAP_PERFMON"};
  EXPECT_TRUE(ValidateDescriptor(d));
  for (const std::string& bad :
       std::vector<std::string>{"CAP_FOO", "NET_ADMIN", "cap_net_admin", "", "CAP_NET_ADMIN "}) {
    d.security.capabilities = {bad};
    EXPECT_THAT(ValidationError(d), HasSubstr("unknown capability")) << bad;
  }
  d.security.capabilities = {"CAP_KILL", "CAP_KILL"};
  EXPECT_THAT(ValidationError(d), HasSubstr("listed twice"));
}

TEST(DescriptorValidateTest, ManyProblemsAreListedBoundedAndEscaped) {
  Descriptor d = Runnable();
  d.security.capabilities.clear();
  for (int i = 0; i < 30; ++i) d.security.capabilities.push_back("CAP_X" + std::to_string(i));
  std::string error = ValidationError(d);
  EXPECT_THAT(error, HasSubstr("CAP_X9'"));
  EXPECT_THAT(error, Not(HasSubstr("CAP_X10'")));
  EXPECT_THAT(error, HasSubstr("and 20 more problems"));

  d = Runnable();
  d.name = "evil\x1b[2J";
  EXPECT_THAT(ValidationError(d), HasSubstr("'evil\\x1b[2J'"));
  EXPECT_THAT(ParseError(Minimal("  env:\n    \"a\\nb\": [x]\n")),
              HasSubstr("app.env.a\\x0ab: expected a string"));
}

TEST(DescriptorValidateTest, Seccomp) {
  Descriptor d = Runnable();
  for (const std::string& bad : std::vector<std::string>{"unconfined", "", "/etc/profile.json"}) {
    d.security.seccomp = bad;
    EXPECT_THAT(ValidationError(d), HasSubstr("app.security.seccomp")) << bad;
  }
}

TEST(DescriptorValidateTest, NetworkAndDevices) {
  Descriptor d = Runnable();
  d.resources.network = {{"eth0", {{"tcp", 80}}}, {"eth1", {}}};
  d.resources.devices = {"serial", "usbdev"};
  EXPECT_TRUE(ValidateDescriptor(d));
  d.resources.network = {{"eth0", {}}, {"eth0", {}}};
  EXPECT_THAT(ValidationError(d), HasSubstr("requested twice"));
  d.resources.network = {{"a-very-long-interface", {}}};
  EXPECT_THAT(ValidationError(d), HasSubstr("interface-name"));
  d.resources.network = {{"eth0", {{"sctp", 80}}}};
  EXPECT_THAT(ValidationError(d), HasSubstr("invalid port"));
  d.resources.network.clear();
  d.resources.devices = {"../dev/sda"};
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.devices[0].type"));
}

TEST(DescriptorValidateTest, ResourceRanges) {
  Descriptor d = Runnable();
  d.resources.profile = "custom";
  d.resources.memory_mb = 3;
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.memory 3 is out of range"));
  d.resources.memory_mb = 300 * 1024;
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.memory"));
  d.resources.memory_mb = -64;
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.memory"));
  d.resources.memory_mb = 128;
  d.resources.cpu_units = 0;
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.cpu 0 is out of range"));
  d.resources.cpu_units = 400;
  d.resources.disk_mb = -1;
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.disk"));
  d.resources.disk_mb = 0;
  EXPECT_TRUE(ValidateDescriptor(d));
  // Named profiles still reject nonsense explicit values: they are a mistake either way.
  d.resources.profile = "c1.small";
  d.resources.memory_mb = 0;
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.memory"));
}

TEST(DescriptorValidateTest, Profiles) {
  Descriptor d = Runnable();
  for (std::string good :
       {"c1.tiny", "c1.small", "c1.medium", "c1.large", "c1.xlarge", "custom", "default", ""}) {
    d.resources.profile = good;
    EXPECT_TRUE(ValidateDescriptor(d)) << good;
  }
  d.resources.profile = "exclusive";
  EXPECT_THAT(ValidationError(d), HasSubstr("'exclusive' is not supported"));
  d.resources.profile = "c1.huge";
  EXPECT_THAT(ValidationError(d), HasSubstr("app.resources.profile 'c1.huge' is unknown"));
}

// --- ResolveResources ----------------------------------------------------------------------

TEST(ResolveResourcesTest, IoxProfileTable) {
  struct Row {
    std::string profile;
    int memory_mb;
    int cpu_units;
  };
  for (const Row& row : std::vector<Row>{{"c1.tiny", 32, 100},
                                         {"c1.small", 64, 200},
                                         {"c1.medium", 128, 400},
                                         {"c1.large", 256, 600},
                                         {"c1.xlarge", 256, 1200},
                                         {"default", 64, 200},
                                         {"", 64, 200}}) {
    Resources r;
    r.profile = row.profile;
    auto limits = ResolveResources(r);
    ASSERT_TRUE(limits) << row.profile;
    EXPECT_EQ(limits->memory_mb, row.memory_mb) << row.profile;
    EXPECT_EQ(limits->cpu_units, row.cpu_units) << row.profile;
  }
}

TEST(ResolveResourcesTest, CustomAndImplicitCustom) {
  Resources r;
  r.profile = "custom";
  r.memory_mb = 512;
  r.cpu_units = 800;
  auto limits = ResolveResources(r);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->memory_mb, 512);
  EXPECT_EQ(limits->cpu_units, 800);

  r.cpu_units.reset();  // a value left out takes c1.small's
  limits = ResolveResources(r);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->cpu_units, 200);

  r.profile = "";  // no profile but explicit values: the app sized itself
  limits = ResolveResources(r);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->memory_mb, 512);

  r.profile = "c1.tiny";  // a named profile wins over stray values
  limits = ResolveResources(r);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->memory_mb, 32);
}

TEST(ResolveResourcesTest, Refusals) {
  Resources r;
  r.profile = "exclusive";
  EXPECT_EQ(ResolveResources(r).error().code(), ErrorCode::kInvalidInput);
  r.profile = "C1.SMALL";
  EXPECT_THAT(ResolveResources(r).error().message(), HasSubstr("is unknown"));
  r.profile = "custom";
  r.memory_mb = 1 << 30;
  EXPECT_THAT(ResolveResources(r).error().message(), HasSubstr("out of range"));
}

// --- CompareVersions -----------------------------------------------------------------------

int Sign(int v) { return (v > 0) - (v < 0); }

TEST(CompareVersionsTest, Table) {
  struct Row {
    std::string a;
    std::string b;
    int expected;
  };
  const std::vector<Row> rows = {
      {"1.0", "1.0", 0},
      {"1.10", "1.9", 1},
      {"1.9", "1.10", -1},
      {"2", "10", -1},
      {"1.0", "1", 0},
      {"1.0.0", "1", 0},
      {"1.0.1", "1", 1},
      {"01.002", "1.2", 0},
      {"0.1", "0.01", 0},
      {"1.2.3", "1.2.4", -1},
      {"99999999999999999999999", "99999999999999999999998", 1},  // no overflow
      {"1.0a", "1.0b", -1},
      {"1.beta", "1.alpha", 1},
      {"1.10", "1.1a", -1},  // numeric sorts before non-numeric
      {"1.9", "1.1a", -1},
      {"1.0", "1.0.rc1", -1},
      {"v2", "v10", 1},  // "v2" and "v10" are strings
      {"", "0", 0},
      {"", "1", -1},
      {"1..2", "1.0.2", 1},
      {"7.5", "4.1", 1},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(Sign(CompareVersions(row.a, row.b)), row.expected) << row.a << " vs " << row.b;
    EXPECT_EQ(Sign(CompareVersions(row.b, row.a)), -row.expected) << row.b << " vs " << row.a;
  }
}

TEST(CompareVersionsTest, OrderIsTransitive) {
  // The cycle a plain string fallback would make: 9 < 10 (numbers), 10 < 1a and 1a < 9
  // (strings). Sorting must be consistent with pairwise comparison.
  std::vector<std::string> versions = {"10",      "9",   "1a",  "1.0",  "1",
                                       "1.0.1",   "1.a", "0.9", "1.10", "1.9",
                                       "2.0-rc1", "2.0", "",    "a",    "1.0.0.0.1"};
  std::sort(versions.begin(), versions.end(),
            [](const std::string& a, const std::string& b) { return CompareVersions(a, b) < 0; });
  for (std::size_t i = 0; i < versions.size(); ++i) {
    for (std::size_t j = i + 1; j < versions.size(); ++j) {
      EXPECT_LE(CompareVersions(versions[i], versions[j]), 0) << versions[i] << " " << versions[j];
    }
  }
}

}  // namespace
}  // namespace fogkeep::package
