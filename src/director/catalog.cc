#include "director/catalog.h"

#include <algorithm>
#include <cctype>

#include "api/node.h"
#include "crypto/hash.h"
#include "crypto/x509.h"
#include "director/rollout.h"
#include "package/reader.h"
#include "package/stream.h"
#include "package/verifier.h"

namespace fogkeep::director {
namespace {

bool IsName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

Result<api::FleetPolicyDoc> ParsePolicy(const FleetPolicy& stored) {
  api::FleetPolicyDoc doc = FK_TRY(api::FromJsonText<api::FleetPolicyDoc>(stored.policy_json));
  doc.tag = stored.tag;
  doc.updated_at = stored.updated_at;
  doc.updated_by = stored.updated_by;
  return doc;
}

std::vector<std::string> Union(std::vector<std::string> a, const std::vector<std::string>& b) {
  for (const std::string& item : b) {
    if (std::find(a.begin(), a.end(), item) == a.end()) a.push_back(item);
  }
  return a;
}

// The restrictions of `a` and `b` together: an empty list restricts nothing.
std::vector<std::string> Restrict(std::vector<std::string> a, const std::vector<std::string>& b,
                                  bool& restricted) {
  if (b.empty()) return a;
  if (!restricted) {
    restricted = true;
    return b;
  }
  std::erase_if(a,
                [&](const std::string& s) { return std::find(b.begin(), b.end(), s) == b.end(); });
  return a;
}

}  // namespace

api::CatalogPackage ToWire(const CatalogEntry& e) {
  return api::CatalogPackage{.name = e.name,
                             .version = e.version,
                             .sha256 = e.sha256,
                             .size = e.size,
                             .signer = e.signer,
                             .uploaded_by = e.uploaded_by,
                             .uploaded_at = e.uploaded_at};
}

api::FleetPolicyDoc MergePolicies(const std::vector<api::FleetPolicyDoc>& policies) {
  api::FleetPolicyDoc merged;
  merged.require_signed = policies.empty();  // no policy at all: the secure default
  bool capabilities_restricted = false, profiles_restricted = false;
  for (const api::FleetPolicyDoc& p : policies) {
    merged.require_signed = merged.require_signed || p.require_signed;
    merged.trust_anchors = Union(std::move(merged.trust_anchors), p.trust_anchors);
    merged.crls = Union(std::move(merged.crls), p.crls);
    merged.allowed_capabilities = Restrict(std::move(merged.allowed_capabilities),
                                           p.allowed_capabilities, capabilities_restricted);
    merged.allowed_profiles =
        Restrict(std::move(merged.allowed_profiles), p.allowed_profiles, profiles_restricted);
    merged.updated_at = std::max(merged.updated_at, p.updated_at);
  }
  return merged;
}

Result<api::FleetPolicyDoc> Catalog::FleetWidePolicy() {
  for (const FleetPolicy& p : FK_TRY(store_->ListPolicies())) {
    if (p.tag == kFleetWideTag) return ParsePolicy(p);
  }
  return api::FleetPolicyDoc{.tag = std::string(kFleetWideTag)};
}

Result<api::CatalogPackage> Catalog::Upload(const std::string& package,
                                            const std::string& uploaded_by) {
  const api::FleetPolicyDoc policy = FK_TRY(FleetWidePolicy());
  crypto::TrustStore trust;
  for (const std::string& pem : policy.trust_anchors) {
    for (crypto::Certificate& cert : FK_TRY(crypto::Certificate::BundleFromPem(pem))) {
      trust.AddAnchor(std::move(cert));
    }
  }
  for (const std::string& pem : policy.crls) trust.AddCrl(FK_TRY(crypto::Crl::FromPem(pem)));
  const package::X509Verifier verifier(std::move(trust), {.require_signed = policy.require_signed});
  package::MemorySource source(package);
  const package::VerifiedPackage verified = FK_TRY(package::VerifyPackage(source, verifier));
  const package::Descriptor& descriptor = *verified.report.descriptor;
  CatalogEntry entry{.name = descriptor.name,
                     .version = descriptor.version,
                     .sha256 = crypto::Sha256Hex(package),
                     .size = static_cast<std::int64_t>(package.size()),
                     .signer = verified.verdict.signer ? verified.verdict.signer->Subject() : "",
                     .descriptor_json = api::Serialize(
                         boost::json::object{{"name", descriptor.name},
                                             {"version", descriptor.version},
                                             {"type", descriptor.type},
                                             {"profile", descriptor.resources.profile}}),
                     .uploaded_by = uploaded_by,
                     .uploaded_at = clock_()};
  FK_TRY(store_->PutPackage(entry, package));
  return ToWire(entry);
}

Result<std::vector<api::CatalogPackage>> Catalog::List() {
  std::vector<api::CatalogPackage> out;
  for (const CatalogEntry& e : FK_TRY(store_->ListPackages())) out.push_back(ToWire(e));
  return out;
}

Status Catalog::Delete(const std::string& name, const std::string& version) {
  for (const Deployment& d : FK_TRY(store_->ListDeployments())) {
    if (IsFinal(d.state)) continue;
    if (d.app_name == name && (d.version == version || d.previous_version == version)) {
      return Fail(ErrorCode::kConflict,
                  name + " " + version + " is used by deployment " + d.id + " (" + d.state + ")");
    }
  }
  return store_->DeletePackage(name, version);
}

Result<api::FleetPolicyDoc> Catalog::SetPolicy(api::FleetPolicyDoc doc,
                                               const std::string& updated_by) {
  if (doc.tag != kFleetWideTag) {
    const std::vector<std::string> tags = FK_TRY(NormalizeTags({doc.tag}));
    if (tags.size() != 1 || tags[0] != doc.tag) {
      return Fail(ErrorCode::kInvalidInput, "a policy's tag is \"*\" or a device tag");
    }
  }
  for (const std::string& pem : doc.trust_anchors) {
    for (const crypto::Certificate& cert : FK_TRY(crypto::Certificate::BundleFromPem(pem))) {
      if (!cert.IsCa()) {
        return Fail(ErrorCode::kInvalidInput, "trust anchor " + cert.Subject() + " is not a CA");
      }
    }
  }
  for (const std::string& pem : doc.crls) FK_TRY(crypto::Crl::FromPem(pem));
  for (const auto* list : {&doc.allowed_capabilities, &doc.allowed_profiles}) {
    for (const std::string& name : *list) {
      if (!IsName(name)) return Fail(ErrorCode::kInvalidInput, "bad capability or profile name");
    }
  }
  doc.updated_at = clock_();
  doc.updated_by = updated_by;
  api::FleetPolicyDoc stored = doc;
  stored.tag.clear();  // the row's key holds it
  FK_TRY(store_->PutPolicy(FleetPolicy{.tag = doc.tag,
                                       .policy_json = api::ToJsonText(stored),
                                       .updated_at = doc.updated_at,
                                       .updated_by = updated_by}));
  return doc;
}

Result<std::vector<api::FleetPolicyDoc>> Catalog::Policies() {
  std::vector<api::FleetPolicyDoc> out;
  for (const FleetPolicy& p : FK_TRY(store_->ListPolicies())) out.push_back(FK_TRY(ParsePolicy(p)));
  return out;
}

Result<api::FleetPolicyDoc> Catalog::PolicyFor(const std::vector<std::string>& tags) {
  // "*" always takes part (its secure defaults when unset), so a tag's policy can only add
  // restrictions to the fleet's.
  std::vector<api::FleetPolicyDoc> applicable = {FK_TRY(FleetWidePolicy())};
  for (const FleetPolicy& p : FK_TRY(store_->ListPolicies())) {
    if (p.tag != kFleetWideTag && std::find(tags.begin(), tags.end(), p.tag) != tags.end()) {
      applicable.push_back(FK_TRY(ParsePolicy(p)));
    }
  }
  return MergePolicies(applicable);
}

}  // namespace fogkeep::director
