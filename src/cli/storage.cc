// fogkeep storage: an operator's view of an app's Secure Storage through the node API
// (node/sss/README.md "The app API", wire types in api/sss.h): list, read, write and delete
// the app's objects, certificates and keys. It needs the storage.read or storage.write
// permission, and the node puts every request, reads included, in its audit trail. Keys show
// their public part only: the node never returns private or secret key material, and a private
// key to import is read from a file, never taken from the command line.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>

#include "api/node.h"
#include "api/sss.h"
#include "cli/cli.h"
#include "cli/node_client.h"
#include "cli/output.h"
#include "core/fs.h"
#include "crypto/hash.h"

namespace fogkeep::cli {
namespace {

namespace json = boost::json;
using net::Method;

// What fogkeep reads to send as one record. The node refuses more than its quota
// (max_record_bytes, 1 MiB by default) with 413; this only bounds what is read for it.
constexpr std::size_t kMaxContentBytes = std::size_t{64} << 20;
// The node takes at most this much PEM in a key import.
constexpr std::size_t kMaxKeyPemBytes = 64 * 1024;

enum class Kind { kObject, kCertificate, kKey };
constexpr std::array kKinds = {Kind::kObject, Kind::kCertificate, Kind::kKey};

// "object", "certificate", "key": how commands and tables name a kind.
std::string Singular(Kind kind) {
  switch (kind) {
    case Kind::kObject:
      return "object";
    case Kind::kCertificate:
      return "certificate";
    case Kind::kKey:
      return "key";
  }
  return "object";
}
// "objects", ...: how the node API names a kind in paths and listings.
std::string Plural(Kind kind) { return Singular(kind) + "s"; }

// A KIND argument, singular or plural; nullopt for anything else.
std::optional<Kind> ParseKind(std::string_view text) {
  for (Kind kind : kKinds) {
    if (text == Singular(kind) || text == Plural(kind)) return kind;
  }
  return std::nullopt;
}

// A usage error for CLI11 (exit 2, before any request); empty when `text` is a kind.
std::string KindProblem(std::string_view text) {
  if (ParseKind(text)) return {};
  return "unknown kind \"" + Printable(text) + "\" (expected object, certificate or key)";
}

// The node's rule for record names (node/sss/secure_store.h), checked here so that a typo is a
// usage error rather than a request. "." and ".." follow the rule but no request path may
// carry them (net/http.h refuses dot segments), so they cannot be reached through the API.
std::string NameProblem(std::string_view name) {
  const auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  };
  if (name.empty() || name.size() > 128 || !std::ranges::all_of(name, ok)) {
    return "record name \"" + Printable(name) + "\" must be 1-128 characters of [A-Za-z0-9_.-]";
  }
  if (name == "." || name == "..") {
    return "record names \".\" and \"..\" cannot be reached through the node API";
  }
  return {};
}

CLI::Validator KindValidator() {
  return CLI::Validator([](std::string& text) { return KindProblem(text); }, "KIND");
}
CLI::Validator NameValidator() {
  return CLI::Validator([](std::string& text) { return NameProblem(text); }, "NAME");
}
// FILE, or "-" for standard input.
CLI::Validator ContentValidator() {
  return CLI::Validator(
      [](std::string& text) { return text == "-" ? std::string() : CLI::ExistingFile(text); },
      "FILE|-");
}

struct StorageArgs {
  NodeTarget target;
  std::string app;
  std::string kind;       // object(s), certificate(s) or key(s): checked by KindValidator
  std::string name;       // checked by NameValidator
  std::string file;       // put: the content, "-" for standard input
  std::string output;     // get -o
  bool pem = false;       // get certificate --pem
  std::string algorithm;  // put key --algorithm
  std::string import;     // put key --import
};

void Check(const Status& status) {
  if (!status) ReportError(status.error());
}

// Options that do not fit the kind: exit 2 with the reason, like CLI11's own usage errors.
Status UsageError(std::string_view command, std::string_view message) {
  std::cerr << "fogkeep: storage " << command << ": " << message
            << "\nRun with --help for more information.\n";
  SetExitCode(2);
  return {};
}

std::string StoragePath(const std::string& app, Kind kind) {
  return "/api/v1/apps/" + EncodeComponent(app) + "/sss/" + Plural(kind);
}
std::string RecordPath(const std::string& app, Kind kind, const std::string& name) {
  return StoragePath(app, kind) + "/" + EncodeComponent(name);
}

// "object run-count of app sss-a", the context of a request's errors.
std::string Subject(Kind kind, const std::string& name, const std::string& app) {
  return Singular(kind) + " " + name + " of app " + app;
}

// A time the node sent as Unix seconds, in UTC. Not through system_clock: certificates valid
// "forever" (9999-12-31) lie beyond what its nanosecond durations hold.
std::string UnixTime(std::int64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buf[48];
  if (::gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(seconds) + " (Unix time)";
  }
  return buf;
}

// Whether printing `bytes` could drive a terminal: control characters other than tab and
// line breaks.
bool HasTerminalControls(std::string_view bytes) {
  return std::ranges::any_of(bytes, [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || c == 0x7f;
  });
}

// Reads a private key's PEM into `out` (empty), sized once up front so that no reallocation
// leaves a copy in freed memory. `out` may hold key bytes on failure too: the caller wipes it.
Status ReadKeyFile(const std::string& path, std::string* out) {
  const fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("open " + path, errno);
  out->resize(kMaxKeyPemBytes + 1);
  std::size_t used = 0;
  while (used < out->size()) {
    const ssize_t n = ::read(fd.get(), out->data() + used, out->size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read " + path, errno);
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxKeyPemBytes) {
    return Fail(ErrorCode::kLimit, path + " is larger than the " + std::to_string(kMaxKeyPemBytes) +
                                       " bytes a key import may hold");
  }
  out->resize(used);
  // Caught here, not by the node: bytes outside ASCII would not even make a JSON body.
  const bool text = std::ranges::all_of(*out, [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c >= 0x20 && c < 0x7f) || ch == '\n' || ch == '\r' || ch == '\t';
  });
  if (!text || out->find("-----BEGIN ") == std::string::npos) {
    return Fail(ErrorCode::kInvalidInput, path + " is not a PEM private key");
  }
  return {};
}

// {"private_key_pem": "<pem>"} (api::SssKeyRequest), written here into one buffer reserved up
// front: api::ToJson would leave copies of the key in freed JSON buffers. The caller wipes it.
std::string KeyImportBody(std::string_view pem) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string body;
  body.reserve(pem.size() * 6 + 32);  // every byte escaped as \u00XX at most
  body += "{\"private_key_pem\":\"";
  for (char ch : pem) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      body.push_back('\\');
      body.push_back(ch);
    } else if (ch == '\n') {
      body += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      body += "\\u00";
      body.push_back(kHex[c >> 4]);
      body.push_back(kHex[c & 15]);
    } else {
      body.push_back(ch);
    }
  }
  body += "\"}";
  return body;
}

// The bytes of FILE, or of standard input for "-".
Result<std::string> ReadContent(const std::string& file) {
  if (file != "-") return fs::ReadFile(file, kMaxContentBytes);  // its errors name the file
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read standard input", errno);
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > kMaxContentBytes) {
      return Fail(ErrorCode::kLimit,
                  "standard input holds more than " + std::to_string(kMaxContentBytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

void PrintCertificate(const api::SssCertificate& c) {
  PrintTable({{"Name", Printable(c.name)},
              {"Subject", Printable(c.subject)},
              {"Issuer", Printable(c.issuer)},
              {"Serial", Printable(c.serial)},
              {"SHA-256", Printable(c.fingerprint_sha256)},
              {"Not before", UnixTime(c.not_before)},
              {"Not after", UnixTime(c.not_after)},
              {"Valid now", c.valid_now ? "yes" : "no"}});
}

void PrintPem(std::string_view pem) {
  std::cout << PrintableLines(pem);
  if (!pem.ends_with('\n')) std::cout << "\n";
}

void PrintKey(const api::SssKey& k) {
  PrintTable({{"Name", Printable(k.name)}, {"Algorithm", Printable(k.algorithm)}});
  if (k.public_key_pem.empty()) {
    std::cout << "(no public part: a secret key, used only inside the node)\n";
  } else {
    PrintPem(k.public_key_pem);
  }
}

Status RunList(const StorageArgs& a) {
  std::vector<Kind> kinds(kKinds.begin(), kKinds.end());
  if (!a.kind.empty()) kinds = {*ParseKind(a.kind)};  // validated by KindValidator
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  json::object out;
  std::vector<std::vector<std::string>> rows{{"KIND", "NAME", "VERSION", "SIZE"}};
  for (Kind kind : kinds) {
    const std::string what = "list the " + Plural(kind) + " of app " + a.app;
    const net::Response response =
        FK_TRY_CTX(client.Call(Method::kGet, StoragePath(a.app, kind)), what);
    const json::value parsed = FK_TRY_CTX(api::ParseJson(response.body), "node answer");
    api::SssRecordList list{.kind = Singular(kind), .records = {}};
    FK_TRY_CTX(api::FromJson(parsed, &list), "node answer");
    json::array records;
    for (const api::SssRecord& r : list.records) {
      records.push_back(api::ToJson(r));
      rows.push_back(
          {Singular(kind), Printable(r.name), std::to_string(r.version), std::to_string(r.size)});
    }
    out[Plural(kind)] = std::move(records);
  }
  if (a.target.json) {
    PrintJson(out);
  } else {
    PrintTable(rows);
  }
  return {};
}

Status GetObject(const StorageArgs& a, std::string bytes) {
  if (!a.output.empty()) {
    FK_TRY_CTX(fs::WriteFileAtomic(a.output, bytes, 0600), a.output);
    if (a.target.json) {
      PrintJson(json::object{{"name", a.name}, {"size", bytes.size()}, {"file", a.output}});
    } else {
      std::cout << "Wrote " << bytes.size() << " bytes of object " << a.name << " to "
                << Printable(a.output) << "\n";
    }
    return {};
  }
  if (a.target.json) {
    PrintJson(json::object{
        {"name", a.name}, {"size", bytes.size()}, {"data", crypto::Base64Encode(bytes)}});
    return {};
  }
  if (::isatty(STDOUT_FILENO) == 1 && HasTerminalControls(bytes)) {
    return Fail(ErrorCode::kInvalidInput,
                "object " + a.name +
                    " holds control characters that would reach the terminal raw; write it with "
                    "-o FILE or through a pipe");
  }
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::cout.flush();
  if (!std::cout) return Fail(ErrorCode::kUnavailable, "cannot write to standard output");
  return {};
}

Status RunGet(const StorageArgs& a) {
  const Kind kind = *ParseKind(a.kind);  // validated by KindValidator
  if (!a.output.empty() && kind != Kind::kObject) {
    return UsageError("get", "-o is for objects; a " + Singular(kind) + " is printed");
  }
  if (a.pem && kind != Kind::kCertificate) {
    return UsageError("get", "--pem is for certificates");
  }
  if (a.pem && a.target.json) return UsageError("get", "give --pem or --json, not both");
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  net::Response response = FK_TRY_CTX(client.Call(Method::kGet, RecordPath(a.app, kind, a.name)),
                                      "get " + Subject(kind, a.name, a.app));
  switch (kind) {
    case Kind::kObject:
      return GetObject(a, std::move(response.body));
    case Kind::kCertificate: {
      const auto cert =
          FK_TRY_CTX(api::FromJsonText<api::SssCertificate>(response.body), "node answer");
      if (a.target.json) {
        PrintJson(api::ToJson(cert));
      } else if (a.pem) {
        PrintPem(cert.pem);
      } else {
        PrintCertificate(cert);
      }
      return {};
    }
    case Kind::kKey: {
      const auto key = FK_TRY_CTX(api::FromJsonText<api::SssKey>(response.body), "node answer");
      if (a.target.json) {
        PrintJson(api::ToJson(key));
      } else {
        PrintKey(key);
      }
      return {};
    }
  }
  return {};
}

// PUT .../keys/{name}: generates (--algorithm) or imports (--import); the key is the node's
// from then on, and only its public part comes back.
Result<api::SssKey> PutKey(NodeClient& client, const StorageArgs& a) {
  const std::string subject = Subject(Kind::kKey, a.name, a.app);
  std::string body;
  const crypto::WipeOnExit wipe_body(body);
  if (!a.algorithm.empty()) {
    body = api::ToJsonText(api::SssKeyRequest{.algorithm = a.algorithm, .private_key_pem = {}});
  } else {
    std::string pem;
    const crypto::WipeOnExit wipe_pem(pem);
    FK_TRY_CTX(ReadKeyFile(a.import, &pem), "--import");
    body = KeyImportBody(pem);
  }
  const net::Response response = FK_TRY_CTX(
      client.Call(Method::kPut, RecordPath(a.app, Kind::kKey, a.name), body, "application/json"),
      "put " + subject);
  return FK_TRY_CTX(api::FromJsonText<api::SssKey>(response.body), "node answer");
}

Status RunPut(const StorageArgs& a) {
  const Kind kind = *ParseKind(a.kind);  // validated by KindValidator
  if (kind == Kind::kKey) {
    if (!a.file.empty()) {
      return UsageError("put", "a key takes --algorithm A or --import FILE.pem, not a FILE");
    }
    if (a.algorithm.empty() == a.import.empty()) {
      return UsageError("put",
                        "a key needs --algorithm A (generate it on the node) or --import "
                        "FILE.pem (import a private key), one of the two");
    }
  } else {
    if (!a.algorithm.empty() || !a.import.empty()) {
      return UsageError("put", "--algorithm and --import are for keys");
    }
    if (a.file.empty()) {
      return UsageError("put", "the " + Singular(kind) + " needs FILE (- for standard input)");
    }
  }
  if (kind == Kind::kKey) {
    NodeClient client = FK_TRY(NodeClient::Connect(a.target));
    const api::SssKey key = FK_TRY(PutKey(client, a));
    if (a.target.json) {
      PrintJson(api::ToJson(key));
    } else {
      std::cout << (a.import.empty() ? "Generated" : "Imported") << " key " << Printable(key.name)
                << " of app " << a.app << "\n";
      PrintKey(key);
    }
    return {};
  }

  const std::string content = FK_TRY(ReadContent(a.file));
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  const std::string subject = Subject(kind, a.name, a.app);
  const net::Response response = FK_TRY_CTX(
      client.Call(Method::kPut, RecordPath(a.app, kind, a.name), content,
                  kind == Kind::kObject ? "application/octet-stream" : "application/x-pem-file"),
      "put " + subject);
  if (kind == Kind::kObject) {
    const auto record = FK_TRY_CTX(api::FromJsonText<api::SssRecord>(response.body), "node answer");
    if (a.target.json) {
      PrintJson(api::ToJson(record));
    } else {
      std::cout << "Stored object " << Printable(record.name) << " of app " << a.app << ": version "
                << record.version << ", " << record.size << " bytes\n";
    }
    return {};
  }
  const auto cert =
      FK_TRY_CTX(api::FromJsonText<api::SssCertificate>(response.body), "node answer");
  if (a.target.json) {
    PrintJson(api::ToJson(cert));
  } else {
    std::cout << "Stored certificate " << Printable(cert.name) << " of app " << a.app << "\n";
    PrintCertificate(cert);
  }
  return {};
}

Status RunDelete(const StorageArgs& a) {
  const Kind kind = *ParseKind(a.kind);  // validated by KindValidator
  NodeClient client = FK_TRY(NodeClient::Connect(a.target));
  const std::string subject = Subject(kind, a.name, a.app);
  FK_TRY_CTX(client.Call(Method::kDelete, RecordPath(a.app, kind, a.name)), "delete " + subject);
  if (a.target.json) {
    PrintJson(json::object{
        {"app", a.app}, {"kind", Singular(kind)}, {"name", a.name}, {"deleted", true}});
  } else {
    std::cout << "Deleted " << subject << "\n";
  }
  return {};
}

}  // namespace

void AddStorageCommands(CLI::App& app) {
  auto args = std::make_shared<StorageArgs>();
  auto* group = app.add_subcommand(
      "storage",
      "An app's Secure Storage on a node: its objects (bytes), certificates (PEM) and keys "
      "(used by the app inside the node; shown here by their public part only). Needs the "
      "storage.read permission to look and storage.write to change; the node records every "
      "request, reads included, in its audit trail");
  group->require_subcommand(1);
  AddNodeTargetOptions(*group, &args->target);

  auto app_arg = [&](CLI::App* cmd) { cmd->add_option("app", args->app, "App id")->required(); };
  auto record_args = [&](CLI::App* cmd) {
    app_arg(cmd);
    cmd->add_option("kind", args->kind, "object, certificate or key (or the plural)")
        ->required()
        ->check(KindValidator());
    cmd->add_option("name", args->name, "Record name: 1-128 characters of [A-Za-z0-9_.-]")
        ->required()
        ->check(NameValidator());
  };

  auto* list = group->add_subcommand(
      "list",
      "List an app's records (KIND NAME VERSION SIZE), every kind or --kind's; never "
      "their content. VERSION is the app's write counter when the record was written");
  app_arg(list);
  list->add_option("--kind", args->kind, "Only this kind: object, certificate or key")
      ->check(KindValidator());
  list->callback([args] { Check(RunList(*args)); });

  auto* get = group->add_subcommand(
      "get",
      "Show one record: an object's bytes (raw on standard output, base64 with --json), a "
      "certificate's subject, issuer, serial, fingerprint and validity, a key's algorithm and "
      "public key");
  record_args(get);
  get->add_option("-o,--output", args->output,
                  "Object: write the bytes to FILE (replaced atomically, mode 0600)");
  get->add_flag("--pem", args->pem, "Certificate: print its PEM only");
  get->footer(
      "Examples:\n"
      "  fogkeep storage get my-app object settings.json -o settings.json\n"
      "  fogkeep storage get my-app certificate server --pem > server.pem\n"
      "  fogkeep storage get my-app key signing --json");
  get->callback([args] { Check(RunGet(*args)); });

  auto* put = group->add_subcommand(
      "put",
      "Store a record, replacing one of the same name: an object from FILE (- for standard "
      "input), a certificate from a PEM FILE, or a key generated on the node (--algorithm) or "
      "imported from a private key PEM file (--import; the key never travels on the command "
      "line, and the node keeps it: no one can read it back)");
  record_args(put);
  put->add_option("file", args->file, "Object or certificate: the content, - for standard input")
      ->check(ContentValidator());
  put->add_option("--algorithm", args->algorithm, "Key: generate one of this algorithm")
      ->check(CLI::IsMember({"rsa", "ecdsa-p256", "ed25519", "aes-256"}));
  put->add_option("--import", args->import, "Key: import the private key in this PEM file")
      ->check(CLI::ExistingFile);
  put->footer(
      "Examples:\n"
      "  fogkeep storage put my-app object settings.json ./settings.json\n"
      "  echo -n 42 | fogkeep storage put my-app object counter -\n"
      "  fogkeep storage put my-app certificate server server.pem\n"
      "  fogkeep storage put my-app key signing --algorithm ecdsa-p256\n"
      "  fogkeep storage put my-app key legacy --import legacy.key");
  put->callback([args] { Check(RunPut(*args)); });

  auto* del = group->add_subcommand("delete", "Delete one record");
  record_args(del);
  del->callback([args] { Check(RunDelete(*args)); });

  // Set last: subcommands created after it would inherit it.
  group->footer(
      "Examples (on the node, as root; add --node https://host:8443 to reach another):\n"
      "  fogkeep storage list my-app\n"
      "  fogkeep storage get my-app object counter\n"
      "  fogkeep storage put my-app certificate server server.pem\n"
      "  fogkeep storage delete my-app key old-signing");
}

}  // namespace fogkeep::cli
