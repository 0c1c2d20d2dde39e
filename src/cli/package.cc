// fogkeep package: build, sign, verify and inspect application packages.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/cli.h"
#include "cli/output.h"
#include "core/fs.h"
#include "crypto/x509.h"
#include "package/builder.h"
#include "package/reader.h"
#include "package/signer.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using package::Descriptor;

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

Result<crypto::TrustStore> LoadTrust(const std::vector<std::string>& sources) {
  crypto::TrustStore store;
  for (const auto& source : sources) {
    auto loaded = FK_TRY_CTX(crypto::TrustStore::Load(source), "trust store " + source);
    for (const auto& anchor : loaded.anchors()) store.AddAnchor(anchor);
    for (const auto& crl : loaded.crls()) store.AddCrl(crl);
  }
  return store;
}

std::string NetworkSummary(const Descriptor& d) {
  if (d.resources.network.empty()) return "none (loopback only)";
  std::string out;
  for (const auto& net : d.resources.network) {
    if (!out.empty()) out += ", ";
    out += net.interface_name.empty() ? "eth?" : net.interface_name;
    for (const auto& port : net.ports) out += " " + port.protocol + "/" + std::to_string(port.port);
  }
  return out;
}

std::string TargetString(const Descriptor& d) {
  std::string out;
  for (const auto& arg : d.startup.target) out += (out.empty() ? "" : " ") + arg;
  return out;
}

json::object DescriptorJson(const Descriptor& d) {
  json::object o{{"name", d.name},
                 {"version", d.version},
                 {"type", d.type},
                 {"cpuarch", d.cpuarch},
                 {"description", d.description},
                 {"profile", d.resources.profile},
                 {"rootfs", d.startup.rootfs},
                 {"target", TargetString(d)}};
  if (auto limits = package::ResolveResources(d.resources)) {
    o["memory_mb"] = limits->memory_mb;
    o["cpu_units"] = limits->cpu_units;
  }
  json::array network;
  for (const auto& net : d.resources.network) {
    json::array ports;
    for (const auto& p : net.ports)
      ports.push_back(json::string(p.protocol + "/" + std::to_string(p.port)));
    network.push_back(json::object{{"interface", net.interface_name}, {"ports", ports}});
  }
  o["network"] = std::move(network);
  json::array caps;
  for (const auto& c : d.security.capabilities) caps.push_back(json::string(c));
  o["capabilities"] = std::move(caps);
  return o;
}

// ---- build ----------------------------------------------------------------------------

struct BuildOptions {
  std::string dir;
  std::string output;
  bool json = false;
};

Status Build(const BuildOptions& o) {
  auto result = FK_TRY(package::BuildPackage(o.dir, o.output));
  if (o.json) {
    PrintJson(json::object{{"output", o.output},
                           {"bytes", result.package_bytes},
                           {"rootfs_source", result.rootfs_source},
                           {"descriptor", DescriptorJson(result.descriptor)}});
  } else {
    std::cout << "Built " << o.output << " (" << result.package_bytes
              << " bytes, unsigned): " << result.descriptor.name << " " << result.descriptor.version
              << ", " << result.descriptor.type << ", rootfs from " << result.rootfs_source << "\n"
              << "Next: fogkeep package sign " << o.output
              << " --key signer.key --cert signer.pem -o signed.tar\n";
  }
  return {};
}

// ---- sign -----------------------------------------------------------------------------

struct SignOptions {
  std::string input;
  std::string key;
  std::string cert;
  std::vector<std::string> chain;
  std::string output;
  bool json = false;
};

Status Sign(const SignOptions& o) {
  package::SigningIdentity identity{
      FK_TRY(crypto::PrivateKey::Load(o.key)),
      FK_TRY_CTX(crypto::Certificate::FromPem(FK_TRY(fs::ReadFile(o.cert))), o.cert),
      {}};
  for (const auto& path : o.chain) {
    auto bundle = FK_TRY_CTX(crypto::Certificate::BundleFromPem(FK_TRY(fs::ReadFile(path))), path);
    identity.intermediates.insert(identity.intermediates.end(), bundle.begin(), bundle.end());
  }
  FK_TRY(package::SignPackage(o.input, identity, o.output));
  if (o.json) {
    PrintJson(json::object{{"output", o.output},
                           {"signer", identity.certificate.Subject()},
                           {"key_type", crypto::KeyTypeName(identity.key.type())},
                           {"intermediates", identity.intermediates.size()}});
  } else {
    std::cout << "Signed " << o.output << " as " << identity.certificate.Subject() << " ("
              << crypto::KeyTypeName(identity.key.type()) << ")\n";
  }
  return {};
}

// ---- verify ---------------------------------------------------------------------------

struct VerifyOptions {
  std::string input;
  std::vector<std::string> trust;
  bool allow_unsigned = false;
  std::string extract;
  bool json = false;
};

Status Verify(const VerifyOptions& o) {
  if (o.trust.empty()) {
    return Fail(ErrorCode::kInvalidInput,
                "--trust is required: the CA certificate(s) and CRLs to verify against");
  }
  if (o.allow_unsigned) {
    std::cerr << "fogkeep: warning: --allow-unsigned weakens the default policy; unsigned "
                 "packages are accepted\n";
  }
  package::X509Verifier verifier(FK_TRY(LoadTrust(o.trust)),
                                 package::SignaturePolicy{.require_signed = !o.allow_unsigned});
  auto source = FK_TRY(package::FileSource::Open(o.input));
  package::VerifiedPackage verified;
  if (o.extract.empty()) {
    verified = FK_TRY_CTX(package::VerifyPackage(source, verifier), o.input);
  } else {
    if (::mkdir(o.extract.c_str(), 0755) != 0) {
      return FailErrno("create extraction directory " + o.extract, errno);
    }
    auto extracted =
        package::VerifyAndExtract(source, verifier, o.extract, package::ExtractOptions{});
    if (!extracted) {
      (void)fs::RemoveTree(o.extract);
      return Fail(extracted.error().With(o.input));
    }
    verified = std::move(*extracted);
  }
  const Descriptor& d = *verified.report.descriptor;
  if (o.json) {
    json::object out{{"package", o.input},
                     {"verified", true},
                     {"name", d.name},
                     {"version", d.version},
                     {"verdict", verified.verdict.reason},
                     {"members", verified.report.members.size()}};
    if (!o.extract.empty()) {
      out["extracted_to"] = o.extract;
      out["rootfs_entries"] = verified.rootfs.entries;
      out["rootfs_bytes"] = verified.rootfs.bytes;
    }
    PrintJson(out);
  } else {
    std::cout << "OK " << o.input << ": " << d.name << " " << d.version << ", "
              << verified.verdict.reason << "; " << verified.report.members.size()
              << " members match package.mf";
    if (!o.extract.empty()) {
      std::cout << "; rootfs (" << verified.rootfs.entries << " entries) extracted to "
                << o.extract;
    }
    std::cout << "\n";
  }
  return {};
}

// ---- inspect --------------------------------------------------------------------------

struct InspectOptions {
  std::string input;
  std::vector<std::string> trust;
  bool json = false;
};

std::string ManifestSummary(const package::PackageReport& r) {
  if (!r.manifest) return "unusable: " + r.manifest_error;
  std::string kind = r.manifest->legacy() ? "SHA-1 (IOx legacy)" : "SHA-256";
  auto integrity = r.CheckIntegrity();
  return kind + ", " + std::to_string(r.manifest->entries().size()) + " entries: " +
         (integrity ? std::string("all members match")
                    : "MISMATCH: " + integrity.error().message());
}

Status Inspect(const InspectOptions& o) {
  auto source = FK_TRY(package::FileSource::Open(o.input));
  package::PackageReport r = FK_TRY_CTX(package::ScanPackage(source), o.input);
  package::Verdict signature = package::CheckSignatureOnly(r.signed_manifest);
  std::optional<package::Verdict> trust;
  if (!o.trust.empty()) {
    package::X509Verifier verifier(FK_TRY(LoadTrust(o.trust)), package::SignaturePolicy{});
    trust = verifier.Verify(r.signed_manifest);
  }

  if (o.json) {
    json::object out{{"package", o.input}};
    if (r.descriptor) out["descriptor"] = DescriptorJson(*r.descriptor);
    out["descriptor_valid"] = r.descriptor_error.empty();
    if (!r.descriptor_error.empty()) out["descriptor_error"] = r.descriptor_error;
    json::object manifest{{"present", r.manifest.has_value()}};
    if (r.manifest) manifest["algorithm"] = r.manifest->legacy() ? "sha1" : "sha256";
    auto integrity = r.CheckIntegrity();
    manifest["status"] = integrity ? "ok" : integrity.error().message();
    out["manifest"] = std::move(manifest);
    json::object sig{{"signed", r.is_signed()}, {"valid", signature.trusted}};
    if (r.is_signed()) sig["detail"] = signature.reason;
    if (signature.signer) {
      sig["subject"] = signature.signer->Subject();
      sig["issuer"] = signature.signer->Issuer();
      sig["not_before"] = FormatTime(signature.signer->NotBefore());
      sig["not_after"] = FormatTime(signature.signer->NotAfter());
      sig["key_type"] = crypto::KeyTypeName(signature.signer->Key().type());
    }
    if (trust) {
      sig["trusted"] = trust->trusted;
      sig["trust_detail"] = trust->reason;
    }
    out["signature"] = std::move(sig);
    json::array members;
    for (const auto& m : r.members) {
      json::object mo{{"name", m.name}, {"size", m.size}, {"sha256", m.sha256}};
      mo["status"] = m.problem.empty() ? "ok" : m.problem;
      members.push_back(std::move(mo));
    }
    out["members"] = std::move(members);
    PrintJson(out);
    return {};
  }

  auto row = [](std::string_view label, const std::string& value) {
    std::cout << std::left << std::setw(12) << label << value << "\n";
  };
  row("Package", o.input);
  if (r.descriptor) {
    const Descriptor& d = *r.descriptor;
    row("Name", d.name);
    row("Version", d.version);
    row("Type", d.type + (d.cpuarch.empty() ? "" : " (" + d.cpuarch + ")"));
    if (auto limits = package::ResolveResources(d.resources)) {
      row("Resources", (d.resources.profile.empty() ? "default" : d.resources.profile) + ": " +
                           std::to_string(limits->memory_mb) + " MB, " +
                           std::to_string(limits->cpu_units) + " CPU units");
    }
    row("Network", NetworkSummary(d));
    if (!d.startup.target.empty()) row("Target", TargetString(d));
  }
  row("Descriptor", r.descriptor_error.empty() ? "valid" : "not runnable: " + r.descriptor_error);
  row("Manifest", ManifestSummary(r));
  if (!r.is_signed()) {
    row("Signature", "unsigned");
  } else if (signature.signer) {
    row("Signature", "valid, by " + signature.signer->Subject());
    row("Issuer", signature.signer->Issuer());
    row("Validity", FormatTime(signature.signer->NotBefore()) + " to " +
                        FormatTime(signature.signer->NotAfter()));
  } else {
    row("Signature", "INVALID: " + signature.reason);
  }
  if (trust) {
    row("Trust", trust->trusted ? "trusted" : "NOT trusted: " + trust->reason);
  } else if (r.is_signed()) {
    row("Trust", "not checked (pass --trust CA.pem)");
  }
  std::cout << "Members:\n";
  for (const auto& m : r.members) {
    std::cout << "  " << std::left << std::setw(20) << m.name << std::right << std::setw(12)
              << m.size << "  " << m.sha256.substr(0, 16) << "…"
              << (m.problem.empty() ? "" : "  " + m.problem) << "\n";
  }
  for (const auto& missing : r.missing) std::cout << "  " << missing << "  MISSING\n";
  return {};
}

}  // namespace

void AddPackageCommands(CLI::App& app) {
  auto* pkg = app.add_subcommand("package", "Build, sign, verify and inspect application packages");
  pkg->require_subcommand(1);

  auto build = std::make_shared<BuildOptions>();
  auto* build_cmd = pkg->add_subcommand(
      "build",
      "Build an unsigned package from DIR: package.yaml, optional package_config.ini, and the "
      "rootfs as the tar named by app.startup.rootfs, a rootfs/ directory, or an OCI image "
      "layout in image/");
  build_cmd->add_option("dir", build->dir, "Source directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  build_cmd->add_option("-o,--output", build->output, "Package file to write")->required();
  build_cmd->add_flag("--json", build->json, "Print a JSON object instead of text");
  build_cmd->callback([build] { Check(Build(*build)); });

  auto sign = std::make_shared<SignOptions>();
  auto* sign_cmd = pkg->add_subcommand(
      "sign", "Sign a package: SHA-256 package.mf, package.sig over it, package.cert");
  sign_cmd->add_option("package", sign->input, "Package to sign")
      ->required()
      ->check(CLI::ExistingFile);
  sign_cmd->add_option("--key", sign->key, "Signer private key (PEM)")
      ->required()
      ->check(CLI::ExistingFile);
  sign_cmd->add_option("--cert", sign->cert, "Signer certificate with the codeSigning EKU (PEM)")
      ->required()
      ->check(CLI::ExistingFile);
  sign_cmd->add_option("--chain", sign->chain, "Intermediate CA certificates (PEM), repeatable")
      ->check(CLI::ExistingFile);
  sign_cmd->add_option("-o,--output", sign->output, "Signed package to write")->required();
  sign_cmd->add_flag("--json", sign->json, "Print a JSON object instead of text");
  sign_cmd->callback([sign] { Check(Sign(*sign)); });

  auto verify = std::make_shared<VerifyOptions>();
  auto* verify_cmd = pkg->add_subcommand(
      "verify",
      "Verify a package: signature, certificate chain, codeSigning EKU, validity, CRLs, and "
      "every member against package.mf. Exit 0 when trusted, 1 with the reason on stderr");
  verify_cmd->add_option("package", verify->input, "Package to verify")
      ->required()
      ->check(CLI::ExistingFile);
  verify_cmd
      ->add_option("--trust", verify->trust,
                   "CA certificate file or directory of CA certificates and CRLs, repeatable")
      ->check(CLI::ExistingPath);
  verify_cmd->add_flag("--allow-unsigned", verify->allow_unsigned,
                       "Accept unsigned packages (weakens the default policy)");
  verify_cmd->add_option("--extract", verify->extract,
                         "Also extract into this new directory (package members + rootfs/)");
  verify_cmd->add_flag("--json", verify->json, "Print a JSON object instead of text");
  verify_cmd->callback([verify] { Check(Verify(*verify)); });

  auto inspect = std::make_shared<InspectOptions>();
  auto* inspect_cmd = pkg->add_subcommand(
      "inspect",
      "Show a package's descriptor, manifest status and signer (fogkeep or IOx packages)");
  inspect_cmd->add_option("package", inspect->input, "Package to inspect")
      ->required()
      ->check(CLI::ExistingFile);
  inspect_cmd->add_option("--trust", inspect->trust, "Also report whether these anchors trust it")
      ->check(CLI::ExistingPath);
  inspect_cmd->add_flag("--json", inspect->json, "Print a JSON object instead of text");
  inspect_cmd->callback([inspect] { Check(Inspect(*inspect)); });
}

}  // namespace fogkeep::cli
