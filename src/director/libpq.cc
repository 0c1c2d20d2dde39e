#include "director/libpq.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "core/log.h"

namespace fogkeep::director::libpq {
namespace {

Result<Functions> Open() {
  void* handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Fail(ErrorCode::kUnavailable,
                std::string("the PostgreSQL store needs ") + kLibrary +
                    " (Debian package libpq5): " + (why != nullptr ? why : "cannot load it"));
  }
  Functions functions;
#define FOGKEEP_LIBPQ_RESOLVE(name)                                                          \
  functions.name = reinterpret_cast<decltype(functions.name)>(::dlsym(handle, #name));       \
  if (functions.name == nullptr) {                                                           \
    return Fail(ErrorCode::kUnavailable, std::string(kLibrary) + " has no function " #name); \
  }
  FOGKEEP_LIBPQ_FUNCTIONS(FOGKEEP_LIBPQ_RESOLVE)
#undef FOGKEEP_LIBPQ_RESOLVE
  return functions;
}

const Result<Functions>& Once() {
  static const Result<Functions> loaded = Open();
  return loaded;
}

}  // namespace

Result<const Functions*> Load() {
  const Result<Functions>& loaded = Once();
  if (!loaded) return std::unexpected(loaded.error());
  return &*loaded;
}

const Functions& Loaded() {
  const Result<Functions>& loaded = Once();
  if (!loaded) {
    log::Error("libpq used before it was loaded: {}", loaded.error().message());
    std::abort();
  }
  return *loaded;
}

}  // namespace fogkeep::director::libpq
