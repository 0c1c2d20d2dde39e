// fogkeep pki: a development PKI for signing packages (a CA and a code-signing certificate),
// and revocation through a CRL. Production fleets bring their own CA; the files this writes
// are ordinary PEM that any X.509 tooling reads.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <memory>

#include "cli/cli.h"
#include "cli/output.h"
#include "core/fs.h"
#include "crypto/keys.h"
#include "crypto/x509.h"

namespace fogkeep::cli {
namespace {

struct InitOptions {
  std::string dir;
  std::string key_type = "ecdsa-p256";
  std::string name = "fogkeep development";
  int signer_days = 365;
  bool force = false;
  bool json = false;
};

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Status Init(const InitOptions& o) {
  auto type = FK_TRY(crypto::ParseKeyType(o.key_type));
  FK_TRY(fs::MakeDirs(o.dir, 0755));
  const std::string ca_key = o.dir + "/ca.key", ca_pem = o.dir + "/ca.pem";
  const std::string signer_key = o.dir + "/signer.key", signer_pem = o.dir + "/signer.pem";
  if (!o.force) {
    for (const auto& p : {ca_key, ca_pem, signer_key, signer_pem}) {
      if (Exists(p)) {
        return Fail(ErrorCode::kConflict, p + " already exists (use --force to replace the PKI)");
      }
    }
  }
  auto ca = FK_TRY(crypto::PrivateKey::Generate(type));
  crypto::IssueOptions ca_options;
  ca_options.common_name = o.name + " CA";
  ca_options.is_ca = true;
  ca_options.lifetime = std::chrono::hours(24 * 365 * 10);
  auto ca_cert = FK_TRY(crypto::IssueCertificate(ca.Public(), ca_options, nullptr, ca));

  auto signer = FK_TRY(crypto::PrivateKey::Generate(type));
  crypto::IssueOptions signer_options;
  signer_options.common_name = o.name + " signer";
  signer_options.lifetime = std::chrono::hours(24 * o.signer_days);
  signer_options.extended_key_usages = {crypto::ExtendedKeyUsage::kCodeSigning};
  auto signer_cert =
      FK_TRY(crypto::IssueCertificate(signer.Public(), signer_options, &ca_cert, ca));

  FK_TRY(ca.Save(ca_key));
  FK_TRY(fs::WriteFileAtomic(ca_pem, ca_cert.ToPem(), 0644));
  FK_TRY(signer.Save(signer_key));
  FK_TRY(fs::WriteFileAtomic(signer_pem, signer_cert.ToPem(), 0644));

  if (o.json) {
    PrintJson(boost::json::object{{"ca_key", ca_key},
                                  {"ca_certificate", ca_pem},
                                  {"signer_key", signer_key},
                                  {"signer_certificate", signer_pem},
                                  {"key_type", o.key_type},
                                  {"ca_subject", ca_cert.Subject()},
                                  {"signer_subject", signer_cert.Subject()},
                                  {"signer_not_after", FormatTime(signer_cert.NotAfter())}});
    return {};
  }
  std::cout << "Created a development PKI (" << o.key_type << ") in " << o.dir << ":\n"
            << "  " << ca_key << "      CA private key (0600) - keep it offline\n"
            << "  " << ca_pem << "      CA certificate: the trust anchor\n"
            << "  " << signer_key << "  code-signing private key (0600)\n"
            << "  " << signer_pem << "  code-signing certificate (EKU codeSigning, valid until "
            << FormatTime(signer_cert.NotAfter()) << ")\n\n"
            << "Sign a package:   fogkeep package sign app.tar --key " << signer_key << " --cert "
            << signer_pem << " -o app-signed.tar\n"
            << "Trust it:         fogkeep package verify app-signed.tar --trust " << ca_pem << "\n"
            << "On a node, add " << ca_pem << " to the node's trust anchors.\n";
  return {};
}

struct RevokeOptions {
  std::string dir;
  std::string certificate;
  bool json = false;
};

// Keeps a copy of every revoked certificate under DIR/revoked/, and reissues DIR/ca.crl
// listing all of them.
Status Revoke(const RevokeOptions& o) {
  auto ca_key = FK_TRY(crypto::PrivateKey::Load(o.dir + "/ca.key"));
  auto ca_cert = FK_TRY(crypto::Certificate::FromPem(FK_TRY(fs::ReadFile(o.dir + "/ca.pem"))));
  auto victim = FK_TRY(crypto::Certificate::FromPem(FK_TRY(fs::ReadFile(o.certificate))));
  if (victim.Issuer() != ca_cert.Subject()) {
    return Fail(ErrorCode::kInvalidInput,
                o.certificate + " was not issued by " + ca_cert.Subject());
  }
  const std::string revoked_dir = o.dir + "/revoked";
  FK_TRY(fs::MakeDirs(revoked_dir, 0755));
  FK_TRY(fs::WriteFileAtomic(revoked_dir + "/" + victim.SerialHex() + ".pem", victim.ToPem()));
  std::vector<crypto::Certificate> revoked;
  FK_TRY(fs::Walk(revoked_dir, [&](const std::string& rel, const struct stat& st) -> Status {
    if (!S_ISREG(st.st_mode) || !rel.ends_with(".pem")) return {};
    revoked.push_back(
        FK_TRY(crypto::Certificate::FromPem(FK_TRY(fs::ReadFile(revoked_dir + "/" + rel)))));
    return {};
  }));
  auto crl = FK_TRY(crypto::IssueCrl(ca_cert, ca_key, revoked));
  const std::string crl_path = o.dir + "/ca.crl";
  FK_TRY(fs::WriteFileAtomic(crl_path, crl.ToPem()));
  if (o.json) {
    PrintJson(boost::json::object{{"crl", crl_path},
                                  {"revoked_serial", victim.SerialHex()},
                                  {"revoked_count", revoked.size()}});
  } else {
    std::cout << "Revoked " << victim.Subject() << " (serial " << victim.SerialHex() << ").\n"
              << crl_path << " now lists " << revoked.size()
              << " certificate(s); give it to nodes with the trust anchors.\n";
  }
  return {};
}

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

}  // namespace

void AddPkiCommands(CLI::App& app) {
  auto* pki = app.add_subcommand("pki", "Development PKI: a CA, a code-signing certificate, CRLs");
  pki->require_subcommand(1);

  auto init = std::make_shared<InitOptions>();
  auto* init_cmd = pki->add_subcommand(
      "init", "Create a development CA and a code-signing key + certificate in --dir");
  init_cmd->add_option("--dir", init->dir, "Directory for the PKI files")->required();
  init_cmd->add_option("--key-type", init->key_type, "ecdsa-p256 (default), rsa (3072) or ed25519")
      ->check(CLI::IsMember({"ecdsa-p256", "rsa", "ed25519"}));
  init_cmd->add_option("--name", init->name, "Common-name prefix of the certificates");
  init_cmd->add_option("--days", init->signer_days, "Validity of the signer certificate in days")
      ->check(CLI::Range(1, 3650));
  init_cmd->add_flag("--force", init->force, "Replace an existing PKI in --dir");
  init_cmd->add_flag("--json", init->json, "Print a JSON object instead of text");
  init_cmd->callback([init] { Check(Init(*init)); });

  auto revoke = std::make_shared<RevokeOptions>();
  auto* revoke_cmd = pki->add_subcommand(
      "revoke", "Revoke a certificate issued by the CA in --dir and reissue --dir/ca.crl");
  revoke_cmd->add_option("--dir", revoke->dir, "Directory made by `fogkeep pki init`")->required();
  revoke_cmd->add_option("certificate", revoke->certificate, "PEM certificate to revoke")
      ->required();
  revoke_cmd->add_flag("--json", revoke->json, "Print a JSON object instead of text");
  revoke_cmd->callback([revoke] { Check(Revoke(*revoke)); });
}

}  // namespace fogkeep::cli
