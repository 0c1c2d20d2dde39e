// Files that hold key material for the sealers: created once, atomically, mode 0600; read
// only when nobody else could have read or replaced them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fogkeep::node::sss {

// Reads the private file at `path`. It must be a regular file (a symlink is not followed),
// owned by the effective user, with no permission bits for group or others, and at most
// `max_bytes` long. kNotFound when missing; kIntegrity, naming the file and what is wrong with
// it, otherwise.
Result<std::string> ReadPrivateFile(const std::string& path, std::size_t max_bytes);

// Writes `data` to `path` atomically and durably with mode 0600 (fs::WriteFileAtomic). The
// caller has just seen the file missing; fogkeepd is the only process that creates it (its
// node lock), so no second writer races this one.
Status CreatePrivateFile(const std::string& path, std::string_view data);

}  // namespace fogkeep::node::sss
