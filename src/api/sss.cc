#include "api/sss.h"

#include <boost/json.hpp>
#include <type_traits>
#include <utility>

#include "api/object_reader.h"

namespace fogkeep::api {
namespace {

namespace json = boost::json;
using detail::ObjectReader;

// Requests whose fields are all strings, read the same way.
template <typename T, std::size_t N>
Status ReadStrings(
    const json::value& j, std::string_view what,
    const std::pair<std::string_view, std::string std::type_identity_t<T>::*> (&fields)[N],
    T* out) {
  ObjectReader r(j, what);
  for (const auto& [key, member] : fields) r.String(key, &(out->*member));
  return r.status();
}

}  // namespace

json::value ToJson(const SssRecord& v) {
  return json::object{{"name", v.name}, {"version", v.version}, {"size", v.size}};
}

json::value ToJson(const SssRecordList& v) {
  json::array records;
  records.reserve(v.records.size());
  for (const auto& r : v.records) records.push_back(ToJson(r));
  return json::object{{v.kind + "s", std::move(records)}};
}

json::value ToJson(const SssCertificate& v) {
  return json::object{{"name", v.name},
                      {"pem", v.pem},
                      {"subject", v.subject},
                      {"issuer", v.issuer},
                      {"serial", v.serial},
                      {"fingerprint_sha256", v.fingerprint_sha256},
                      {"not_before", v.not_before},
                      {"not_after", v.not_after},
                      {"valid_now", v.valid_now}};
}

json::value ToJson(const SssKeyRequest& v) {
  json::object o;
  if (!v.algorithm.empty()) o["algorithm"] = v.algorithm;
  if (!v.private_key_pem.empty()) o["private_key_pem"] = v.private_key_pem;
  return o;
}

json::value ToJson(const SssKey& v) {
  return json::object{
      {"name", v.name}, {"algorithm", v.algorithm}, {"public_key_pem", v.public_key_pem}};
}

json::value ToJson(const SssSignRequest& v) { return json::object{{"data", v.data}}; }
json::value ToJson(const SssSignature& v) { return json::object{{"signature", v.signature}}; }
json::value ToJson(const SssVerifyRequest& v) {
  return json::object{{"data", v.data}, {"signature", v.signature}};
}
json::value ToJson(const SssVerification& v) { return json::object{{"valid", v.valid}}; }
json::value ToJson(const SssEncryptRequest& v) {
  return json::object{{"plaintext", v.plaintext}, {"aad", v.aad}};
}
json::value ToJson(const SssCiphertext& v) { return json::object{{"ciphertext", v.ciphertext}}; }
json::value ToJson(const SssDecryptRequest& v) {
  return json::object{{"ciphertext", v.ciphertext}, {"aad", v.aad}};
}
json::value ToJson(const SssPlaintext& v) { return json::object{{"plaintext", v.plaintext}}; }

Status FromJson(const json::value& j, SssRecord* out) {
  ObjectReader r(j, "record");
  r.String("name", &out->name);
  r.Integer("version", &out->version);
  r.Integer("size", &out->size);
  return r.status();
}

Status FromJson(const json::value& j, SssRecordList* out) {
  const std::string member = out->kind + "s";
  const json::object* o = j.if_object();
  const json::value* items = o != nullptr ? o->if_contains(member) : nullptr;
  if (items == nullptr || !items->is_array()) {
    return Fail(ErrorCode::kInvalidInput,
                "record list must be an object with an array \"" + member + "\"");
  }
  out->records.clear();
  for (const json::value& item : items->get_array()) {
    SssRecord record;
    FK_TRY(FromJson(item, &record));
    out->records.push_back(std::move(record));
  }
  return {};
}

Status FromJson(const json::value& j, SssCertificate* out) {
  ObjectReader r(j, "certificate");
  r.String("name", &out->name);
  r.String("pem", &out->pem);
  r.String("subject", &out->subject);
  r.String("issuer", &out->issuer);
  r.String("serial", &out->serial);
  r.String("fingerprint_sha256", &out->fingerprint_sha256);
  r.Integer("not_before", &out->not_before);
  r.Integer("not_after", &out->not_after);
  r.Bool("valid_now", &out->valid_now);
  return r.status();
}

Status FromJson(const json::value& j, SssKeyRequest* out) {
  return ReadStrings(j, "key request",
                     {{"algorithm", &SssKeyRequest::algorithm},
                      {"private_key_pem", &SssKeyRequest::private_key_pem}},
                     out);
}

Status FromJson(const json::value& j, SssKey* out) {
  return ReadStrings(j, "key",
                     {{"name", &SssKey::name},
                      {"algorithm", &SssKey::algorithm},
                      {"public_key_pem", &SssKey::public_key_pem}},
                     out);
}

Status FromJson(const json::value& j, SssSignRequest* out) {
  return ReadStrings(j, "sign request", {{"data", &SssSignRequest::data}}, out);
}

Status FromJson(const json::value& j, SssSignature* out) {
  return ReadStrings(j, "signature", {{"signature", &SssSignature::signature}}, out);
}

Status FromJson(const json::value& j, SssVerifyRequest* out) {
  return ReadStrings(
      j, "verify request",
      {{"data", &SssVerifyRequest::data}, {"signature", &SssVerifyRequest::signature}}, out);
}

Status FromJson(const json::value& j, SssVerification* out) {
  ObjectReader r(j, "verification");
  r.Bool("valid", &out->valid);
  return r.status();
}

Status FromJson(const json::value& j, SssEncryptRequest* out) {
  return ReadStrings(
      j, "encrypt request",
      {{"plaintext", &SssEncryptRequest::plaintext}, {"aad", &SssEncryptRequest::aad}}, out);
}

Status FromJson(const json::value& j, SssCiphertext* out) {
  return ReadStrings(j, "ciphertext", {{"ciphertext", &SssCiphertext::ciphertext}}, out);
}

Status FromJson(const json::value& j, SssDecryptRequest* out) {
  return ReadStrings(
      j, "decrypt request",
      {{"ciphertext", &SssDecryptRequest::ciphertext}, {"aad", &SssDecryptRequest::aad}}, out);
}

Status FromJson(const json::value& j, SssPlaintext* out) {
  return ReadStrings(j, "plaintext", {{"plaintext", &SssPlaintext::plaintext}}, out);
}

}  // namespace fogkeep::api
