#include "apps_fixture.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/fs.h"
#include "node/runtime/cgroups.h"
#include "node/runtime/oci_runtime.h"
#include "node/runtime/shim.h"
#include "package/builder.h"

namespace fogkeep::node::testing {
namespace {

constexpr const char* kApplets[] = {"sh", "cat",  "echo",  "sleep", "env",
                                    "ls", "true", "false", "mkdir", "rm"};

std::vector<std::string> Entries(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(dir);
  }
  return out;
}

std::string Arch() {
#if defined(__aarch64__)
  return "aarch64";
#else
  return "x86_64";
#endif
}

}  // namespace

std::string MissingPrerequisite() {
  if (::geteuid() != 0) return "needs root: user namespaces, cgroups and runc";
  if (::access(kRunc, X_OK) != 0) return std::string("runc is not installed at ") + kRunc;
  if (::access(kBusybox, X_OK) != 0) return "busybox-static is not installed";
  return "";
}

Result<Signer> MakeSigner() {
  auto ca_key = FK_TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  crypto::IssueOptions ca_options;
  ca_options.common_name = "fogkeep test CA";
  ca_options.is_ca = true;
  auto ca = FK_TRY(crypto::IssueCertificate(ca_key.Public(), ca_options, nullptr, ca_key));
  auto leaf_key = FK_TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  crypto::IssueOptions leaf_options;
  leaf_options.common_name = "fogkeep test signer";
  leaf_options.extended_key_usages = {crypto::ExtendedKeyUsage::kCodeSigning};
  auto leaf = FK_TRY(crypto::IssueCertificate(leaf_key.Public(), leaf_options, &ca, ca_key));
  return Signer{ca, package::SigningIdentity{leaf_key, leaf, {}}};
}

Result<std::string> BuildTestPackage(const std::string& work_dir, const TestPackage& spec,
                                     const Signer* signer) {
  std::string dir = FK_TRY(fs::MakeTempDir(work_dir, "pkg-"));
  std::string rootfs = dir + "/rootfs";
  for (const char* sub : {"", "/bin", "/app", "/data", "/tmp", "/proc", "/sys", "/dev", "/etc"}) {
    FK_TRY(fs::MakeDirs(rootfs + sub, 0755));
  }
  auto busybox = FK_TRY(fs::ReadFile(kBusybox, 16 << 20));
  FK_TRY(fs::WriteFileAtomic(rootfs + "/bin/busybox", busybox, 0755));
  for (const char* applet : kApplets) {
    std::string link = rootfs + "/bin/" + applet;
    if (::symlink("busybox", link.c_str()) != 0) return FailErrno("symlink " + link, errno);
  }
  FK_TRY(fs::WriteFileAtomic(rootfs + "/etc/passwd", "root:x:0:0:root:/:/bin/sh\n", 0644));
  FK_TRY(fs::WriteFileAtomic(rootfs + "/etc/group", "root:x:0:\n", 0644));
  FK_TRY(fs::WriteFileAtomic(rootfs + "/app/run.sh", spec.script, 0755));

  std::string yaml =
      "descriptor-schema-version: \"2.2\"\n"
      "info:\n"
      "  name: " +
      spec.name +
      "\n"
      "  version: \"" +
      spec.version +
      "\"\n"
      "app:\n"
      "  type: docker\n"
      "  cpuarch: " +
      Arch() +
      "\n"
      "  env:\n"
      "    GREETING: \"hello\"\n"
      "    FOGKEEP_APP_ID: \"spoofed\"\n"
      "  resources:\n"
      "    profile: c1.tiny\n";
  if (spec.declare_interface) {
    yaml += "    network:\n      - interface-name: eth0\n        ports:\n          tcp: [" +
            std::to_string(spec.port) + "]\n";
  }
  yaml += "  startup:\n    rootfs: rootfs.tar\n    target: [\"/bin/sh\", \"/app/run.sh\"]\n";
  if (!spec.capabilities.empty() || spec.host_network) yaml += "  security:\n";
  if (!spec.capabilities.empty()) {
    yaml += "    capabilities: [";
    for (std::size_t i = 0; i < spec.capabilities.size(); ++i)
      yaml += (i ? ", " : "") + spec.capabilities[i];
    yaml += "]\n";
  }
  if (spec.host_network) yaml += "    host-network: true\n";
  FK_TRY(fs::WriteFileAtomic(dir + "/package.yaml", yaml, 0644));
  FK_TRY(fs::WriteFileAtomic(dir + "/package_config.ini", spec.config, 0644));
  std::string unsigned_path = dir + "/unsigned.tar";
  FK_TRY_CTX(package::BuildPackage(dir, unsigned_path), "build package");
  if (!signer) return unsigned_path;
  std::string signed_path = dir + "/signed.tar";
  FK_TRY_CTX(package::SignPackage(unsigned_path, signer->identity, signed_path), "sign package");
  return signed_path;
}

void DestroyNode(const std::string& data_dir, const std::string& cgroup_parent) {
  using namespace std::chrono_literals;
  runtime::RuntimeOptions options;
  options.root = data_dir + "/runtime";
  auto rt = runtime::MakeOciRuntime("runc", options);
  std::vector<std::string> ids = Entries(data_dir + "/apps");
  for (const auto& id : Entries(data_dir + "/runtime")) ids.push_back(id);
  for (const auto& id : ids) {
    if (auto text = fs::ReadFile(data_dir + "/apps/" + id + "/state/shim.pid", 64)) {
      pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
      auto cmdline = fs::ReadFile("/proc/" + std::to_string(pid) + "/cmdline", 1 << 16);
      if (pid > 1 && cmdline && cmdline->find("fogkeep-shim") != std::string::npos)
        ::kill(pid, SIGKILL);
    }
    if (rt && runtime::ValidateContainerId(id)) (void)(*rt)->Delete(id, /*force=*/true);
  }
  std::this_thread::sleep_for(100ms);
  auto cgroups = runtime::DetectCgroups();
  for (const auto& id : ids) (void)cgroups->Remove(cgroup_parent + "/" + id);
  (void)cgroups->Remove(cgroup_parent);
}

std::string UniqueCgroupParent(std::string_view tag) {
  static int calls = 0;
  return "/fogkeep-it-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(++calls);
}

std::uint32_t UniqueFirstSlot() {
  // Four slots per process; a test's node holds at most that many apps at once.
  return 30000 + (static_cast<std::uint32_t>(::getpid()) % 7000) * 4;
}

}  // namespace fogkeep::node::testing
