// Trust material named on the command line (`fogkeep node trust set`, `fogkeep fleet policy
// set`): certificate and CRL PEM files, parsed here and re-encoded, so that what a server is
// sent is exactly what parsed, and a wrong file is refused before any request.
#pragma once

#include <string>
#include <vector>

#include "api/node.h"
#include "core/error.h"

namespace fogkeep::cli {

// Every certificate of every file in `anchor_files` (a file may hold a bundle) and the CRL of
// every file in `crl_files`, as PEM, in order. Errors name the file: unreadable, larger than
// 1 MiB, or not PEM certificates / a PEM CRL.
Result<api::TrustMaterial> ReadTrustFiles(const std::vector<std::string>& anchor_files,
                                          const std::vector<std::string>& crl_files);

}  // namespace fogkeep::cli
