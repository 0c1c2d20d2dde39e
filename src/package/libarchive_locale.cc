#include "package/libarchive_locale.h"

namespace fogkeep::package {
namespace {

// Created once and never freed: a guard may be entered from any thread at any time, and the
// locale object is immutable once made.
locale_t Utf8Ctype() {
  static const locale_t locale = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return locale;
}

}  // namespace

ScopedUtf8Ctype::ScopedUtf8Ctype() {
  if (locale_t locale = Utf8Ctype(); locale != static_cast<locale_t>(0)) {
    previous_ = ::uselocale(locale);
  }
}

ScopedUtf8Ctype::~ScopedUtf8Ctype() {
  if (previous_ != static_cast<locale_t>(0)) ::uselocale(previous_);
}

}  // namespace fogkeep::package
