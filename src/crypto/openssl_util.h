// Private to crypto/: ownership of OpenSSL objects and translation of the OpenSSL error queue
// into fogkeep errors. Never include this header from outside src/crypto.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/keys.h"

namespace fogkeep::crypto::ossl {

// A deleter calling the OpenSSL free function `F`.
template <auto F>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    F(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Free<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Free<ASN1_TIME_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Free<X509_CRL_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using RevokedPtr = std::unique_ptr<X509_REVOKED, Free<X509_REVOKED_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, Free<ASN1_OCTET_STRING_free>>;
struct FreeX509InfoStack {
  void operator()(STACK_OF(X509_INFO) * sk) const { sk_X509_INFO_pop_free(sk, X509_INFO_free); }
};
using X509InfoStackPtr = std::unique_ptr<STACK_OF(X509_INFO), FreeX509InfoStack>;
// Holds borrowed certificates: freeing the stack leaves the certificates alone.
struct FreeBorrowedX509Stack {
  void operator()(STACK_OF(X509) * sk) const { sk_X509_free(sk); }
};
using BorrowedX509StackPtr = std::unique_ptr<STACK_OF(X509), FreeBorrowedX509Stack>;

// Shared ownership of objects the public headers hold in shared_ptr. Each takes over one
// reference (the caller must not free `p` afterwards).
std::shared_ptr<EVP_PKEY> SharePkey(EVP_PKEY* p);
std::shared_ptr<X509> ShareX509(X509* p);
std::shared_ptr<X509_CRL> ShareCrl(X509_CRL* p);

// Empties this thread's OpenSSL error queue on construction and destruction, so a message
// built from the queue names only what the current operation did, and nothing stale is left
// for the next caller.
class ErrorQueueScope {
 public:
  ErrorQueueScope();
  ~ErrorQueueScope();
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

// Drains the error queue into "error:...:reason; error:...:reason" (empty when it was empty).
std::string DrainErrors();

// Fails with `code` and "what: <drained OpenSSL errors>" (just `what` when the queue is empty).
std::unexpected<Error> FailSsl(ErrorCode code, std::string_view what);

// A read-only memory BIO over `data` (which must outlive it). Inputs that do not fit an int
// are refused with kLimit.
Result<BioPtr> ReadBio(std::string_view data);
// A fresh writable memory BIO; aborts when allocation fails.
BioPtr WriteBio();
// The bytes written so far into a memory BIO.
std::string BioContents(BIO* bio);

// The supported type of `key`, or kInvalidInput naming the unsupported type or curve.
Result<KeyType> DetectKeyType(const EVP_PKEY* key);

// The type of `key`, which must agree with `claimed` (the scheme is derived from the key
// object itself, never from a label that could disagree with it); RSA keys must have at least
// 2048 bits. kInvalidInput otherwise.
Result<KeyType> CheckedKeyType(const EVP_PKEY* key, KeyType claimed);

// PEM password callback that refuses: without it OpenSSL would prompt on the terminal when a
// PEM block says it is encrypted. When `asked` is not null it points to a bool set to true.
int RefusePassword(char* buf, int size, int rwflag, void* asked);

// The digest paired with a signing key of `type`: SHA-256, or none for Ed25519 (pure mode).
const EVP_MD* SignatureDigest(KeyType type);

// One-line RFC 2253 form of a name ("CN=leaf,O=fogkeep").
std::string NameToString(const X509_NAME* name);

// Lowercase hex of `bytes`.
std::string Hex(const unsigned char* bytes, std::size_t size);

// Aborts the process with `what` on stderr: for failures that only a broken invariant or
// memory exhaustion can cause, in functions whose contract has no error path.
[[noreturn]] void Die(std::string_view what);

}  // namespace fogkeep::crypto::ossl
