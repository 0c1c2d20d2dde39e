// The fleet's catalog of signed packages and its policies.
//
// A package is verified on upload exactly as a node would verify it (package/reader.h: every
// member hashed against the manifest, the descriptor validated, the signature checked against
// the trust anchors and CRLs of the fleet policy "*"), so nothing enters the catalog that the
// fleet would refuse; unsigned packages are accepted only when that policy allows them. The
// bytes are stored with the row (FleetStore::PutPackage) so every replica serves the same file.
//
// Policies are per tag; a device receives the merge of "*" and the policies of its tags, the
// strictest of each setting: signatures required if any says so, the union of trust anchors
// and CRLs, the intersection of allowed capabilities and profiles among the policies that
// restrict them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/director.h"
#include "core/error.h"
#include "director/enrollment.h"
#include "director/store.h"

namespace fogkeep::director {

// The policy every device gets: the "*" policy, or the secure defaults when none is set.
inline constexpr std::string_view kFleetWideTag = "*";

class Catalog {
 public:
  Catalog(std::shared_ptr<FleetStore> store, Clock clock = SystemNow)
      : store_(std::move(store)), clock_(std::move(clock)) {}

  // Verifies `package` (the whole file) and adds it. kIntegrity when it is not trusted,
  // kInvalidInput when it is not a valid package, kConflict when the name and version exist.
  Result<api::CatalogPackage> Upload(const std::string& package, const std::string& uploaded_by);
  Result<std::vector<api::CatalogPackage>> List();
  // kConflict while a deployment that is not over (undeployed, rolled back, cancelled) uses it.
  Status Delete(const std::string& name, const std::string& version);

  // Validates and stores a policy (anchors and CRLs must parse; capabilities and profiles
  // are names); `doc.tag` names it.
  Result<api::FleetPolicyDoc> SetPolicy(api::FleetPolicyDoc doc, const std::string& updated_by);
  Result<std::vector<api::FleetPolicyDoc>> Policies();
  // The merged policy of a device with `tags` (tag "").
  Result<api::FleetPolicyDoc> PolicyFor(const std::vector<std::string>& tags);

 private:
  Result<api::FleetPolicyDoc> FleetWidePolicy();

  const std::shared_ptr<FleetStore> store_;
  const Clock clock_;
};

api::CatalogPackage ToWire(const CatalogEntry& entry);
// The merge described above; `policies` in any order.
api::FleetPolicyDoc MergePolicies(const std::vector<api::FleetPolicyDoc>& policies);

}  // namespace fogkeep::director
