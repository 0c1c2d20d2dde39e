// Wire types of the Secure Storage Service's API: an app's own socket (/v1/...) and the node
// API's view of any app's store (/api/v1/apps/{id}/sss/...). node/sss/README.md lists the
// routes. Same conventions as api/node.h: one place names each field, parsing is strict about
// types and ignores unknown fields. Binary fields (`data`, `signature`, `plaintext`, `aad`,
// `ciphertext`) carry standard base64 text here; the service decodes them, so this module
// stays free of crypto.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace fogkeep::api {

// One record in a listing: no content, ever.
struct SssRecord {
  std::string name;
  std::int64_t version = 0;  // the app's write counter when the record was last written
  std::uint64_t size = 0;    // bytes of the plaintext
};

// GET .../objects, .../certificates, .../keys: {"<kind>s": [...]}, with `kind` the record
// kind ("object", "certificate", "key") naming the member.
struct SssRecordList {
  std::string kind;
  std::vector<SssRecord> records;
};

// PUT and GET .../certificates/{name}. Times are Unix seconds.
struct SssCertificate {
  std::string name;
  std::string pem;
  std::string subject;
  std::string issuer;
  std::string serial;  // hex
  std::string fingerprint_sha256;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  bool valid_now = false;
};

// PUT .../keys/{name}: exactly one of `algorithm` (generate) and `private_key_pem` (import).
struct SssKeyRequest {
  std::string algorithm;  // rsa | ecdsa-p256 | ed25519 | aes-256
  std::string private_key_pem;
};

// A key as the service shows it: never its private or secret part.
struct SssKey {
  std::string name;
  std::string algorithm;
  std::string public_key_pem;  // empty for AES keys
};

// POST .../keys/{name}/sign → SssSignature.
struct SssSignRequest {
  std::string data;  // base64
};
struct SssSignature {
  std::string signature;  // base64
};

// POST .../keys/{name}/verify → SssVerification.
struct SssVerifyRequest {
  std::string data;       // base64
  std::string signature;  // base64
};
struct SssVerification {
  bool valid = false;
};

// POST .../keys/{name}/encrypt → SssCiphertext.
struct SssEncryptRequest {
  std::string plaintext;  // base64
  std::string aad;        // base64; empty: no associated data
};
struct SssCiphertext {
  std::string ciphertext;  // base64 of nonce || ciphertext || tag
};

// POST .../keys/{name}/decrypt → SssPlaintext.
struct SssDecryptRequest {
  std::string ciphertext;  // base64
  std::string aad;         // base64
};
struct SssPlaintext {
  std::string plaintext;  // base64
};

boost::json::value ToJson(const SssRecord& v);
boost::json::value ToJson(const SssRecordList& v);
boost::json::value ToJson(const SssCertificate& v);
boost::json::value ToJson(const SssKeyRequest& v);
boost::json::value ToJson(const SssKey& v);
boost::json::value ToJson(const SssSignRequest& v);
boost::json::value ToJson(const SssSignature& v);
boost::json::value ToJson(const SssVerifyRequest& v);
boost::json::value ToJson(const SssVerification& v);
boost::json::value ToJson(const SssEncryptRequest& v);
boost::json::value ToJson(const SssCiphertext& v);
boost::json::value ToJson(const SssDecryptRequest& v);
boost::json::value ToJson(const SssPlaintext& v);

Status FromJson(const boost::json::value& json, SssRecord* out);
// `out->kind` must be set: it names the member to read.
Status FromJson(const boost::json::value& json, SssRecordList* out);
Status FromJson(const boost::json::value& json, SssCertificate* out);
Status FromJson(const boost::json::value& json, SssKeyRequest* out);
Status FromJson(const boost::json::value& json, SssKey* out);
Status FromJson(const boost::json::value& json, SssSignRequest* out);
Status FromJson(const boost::json::value& json, SssSignature* out);
Status FromJson(const boost::json::value& json, SssVerifyRequest* out);
Status FromJson(const boost::json::value& json, SssVerification* out);
Status FromJson(const boost::json::value& json, SssEncryptRequest* out);
Status FromJson(const boost::json::value& json, SssCiphertext* out);
Status FromJson(const boost::json::value& json, SssDecryptRequest* out);
Status FromJson(const boost::json::value& json, SssPlaintext* out);

}  // namespace fogkeep::api
