// Internal to src/package: the thread locale that libarchive calls run under.
//
// libarchive converts entry names between UTF-8 (pax records) and the charset of the calling
// thread's LC_CTYPE. A daemon that never called setlocale() runs in "C", where any non-ASCII
// name fails to convert. Every libarchive call that reads or writes entry names therefore runs
// under a ScopedUtf8Ctype, so that names pass byte for byte.
#pragma once

#include <locale.h>

namespace fogkeep::package {

// Makes LC_CTYPE "C.UTF-8" (other categories "C") for the calling thread only, until the guard
// is destroyed. Guards nest; where C.UTF-8 is not installed the guard does nothing.
class ScopedUtf8Ctype {
 public:
  ScopedUtf8Ctype();
  ~ScopedUtf8Ctype();
  ScopedUtf8Ctype(const ScopedUtf8Ctype&) = delete;
  ScopedUtf8Ctype& operator=(const ScopedUtf8Ctype&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(0);
};

}  // namespace fogkeep::package
