// fogkeep node: platform settings of a node (trust anchors, policy), through its API.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <memory>

#include "api/node.h"
#include "cli/cli.h"
#include "cli/node_client.h"
#include "cli/output.h"
#include "cli/trust_files.h"
#include "crypto/x509.h"

namespace fogkeep::cli {
namespace {

using net::Method;

constexpr std::string_view kTrustPath = "/api/v1/platform/trust";
constexpr std::string_view kPolicyPath = "/api/v1/platform/policy";

struct NodeArgs {
  NodeTarget target;
  std::vector<std::string> anchors;
  std::vector<std::string> crls;
};

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

Status TrustSet(const NodeArgs& a) {
  const api::TrustMaterial trust = FK_TRY(ReadTrustFiles(a.anchors, a.crls));
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  FK_TRY(client.Call(Method::kPut, kTrustPath, api::ToJsonText(trust), "application/json"));
  if (a.target.json) {
    PrintJson(api::ToJson(trust));
  } else {
    std::cout << "Trust store replaced: " << trust.anchors.size() << " anchor(s), "
              << trust.crls.size() << " CRL(s)\n";
  }
  return {};
}

Status TrustGet(const NodeArgs& a) {
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  net::Response r = FK_TRY(client.Call(Method::kGet, kTrustPath));
  auto trust = FK_TRY_CTX(api::FromJsonText<api::TrustMaterial>(r.body), "node answer");
  if (a.target.json) {
    PrintJson(api::ToJson(trust));
    return {};
  }
  for (const auto& pem : trust.anchors) {
    auto cert = crypto::Certificate::FromPem(pem);
    std::cout << "anchor  "
              << (cert ? cert->Subject() + "  sha256 " + cert->Fingerprint()
                       : std::string("(unparsable)"))
              << "\n";
  }
  for (const auto& pem : trust.crls) {
    auto crl = crypto::Crl::FromPem(pem);
    std::cout << "crl     " << (crl ? crl->Issuer() : std::string("(unparsable)")) << "\n";
  }
  if (trust.anchors.empty()) std::cout << "(no trust anchors: signed packages cannot install)\n";
  return {};
}

Status PolicyGet(const NodeArgs& a) {
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  net::Response r = FK_TRY(client.Call(Method::kGet, kPolicyPath));
  auto p = FK_TRY_CTX(api::FromJsonText<api::PlatformPolicy>(r.body), "node answer");
  if (a.target.json) {
    PrintJson(api::ToJson(p));
    return {};
  }
  std::string caps;
  for (const auto& c : p.allowed_capabilities) caps += (caps.empty() ? "" : ", ") + c;
  std::cout << "require_signed        " << (p.require_signed ? "yes" : "NO (warning)") << "\n"
            << "allowed_capabilities  " << (caps.empty() ? "none" : caps) << "\n"
            << "allow_host_network    " << (p.allow_host_network ? "YES (warning)" : "no") << "\n"
            << "allow_downgrade       " << (p.allow_downgrade ? "YES (warning)" : "no") << "\n";
  return {};
}

}  // namespace

void AddNodeCommands(CLI::App& app) {
  auto args = std::make_shared<NodeArgs>();
  auto* group = app.add_subcommand("node", "Platform settings of a node: trust anchors, policy");
  group->require_subcommand(1);
  AddNodeTargetOptions(*group, &args->target);

  auto* trust = group->add_subcommand("trust", "The node's package trust anchors and CRLs");
  trust->require_subcommand(1);
  auto* set = trust->add_subcommand("set", "Replace the trust anchors (and CRLs)");
  set->add_option("anchors", args->anchors, "CA certificate PEM files")
      ->required()
      ->check(CLI::ExistingFile);
  set->add_option("--crl", args->crls, "CRL PEM files")->check(CLI::ExistingFile);
  set->callback([args] { Check(TrustSet(*args)); });
  trust->add_subcommand("get", "Show the trust anchors")->callback([args] {
    Check(TrustGet(*args));
  });

  auto* policy = group->add_subcommand("policy", "The node's platform policy");
  policy->require_subcommand(1);
  policy->add_subcommand("get", "Show the policy")->callback([args] { Check(PolicyGet(*args)); });
}

}  // namespace fogkeep::cli
