#include "node/runtime/flat_json.h"

#include <charconv>

#include "core/json_text.h"

namespace fogkeep::node::runtime {
namespace {

constexpr int kMaxDepth = 64;

Error Malformed(std::string_view what, std::size_t pos) {
  return Error(ErrorCode::kInvalidInput,
               "malformed JSON: " + std::string(what) + " at byte " + std::to_string(pos));
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A recursive-descent reader over `text_`; every method leaves pos_ after what it read.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::size_t pos() const { return pos_; }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  Result<std::string> ReadString() {
    if (!Consume('"')) return Fail(Malformed("expected a string", pos_));
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return Fail(Malformed("unterminated string", pos_));
      unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return out;
      if (c < 0x20) return Fail(Malformed("control character in string", pos_ - 1));
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) return Fail(Malformed("unterminated escape", pos_));
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = FK_TRY(ReadHex4());
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") return Fail(Malformed("lone surrogate", pos_));
            pos_ += 2;
            std::uint32_t low = FK_TRY(ReadHex4());
            if (low < 0xDC00 || low > 0xDFFF) return Fail(Malformed("bad surrogate pair", pos_));
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail(Malformed("lone surrogate", pos_));
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Fail(Malformed("invalid escape", pos_ - 1));
      }
    }
  }

  // RFC 8259 number grammar; returns the literal.
  Result<std::string> ReadNumber() {
    SkipSpace();
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t n = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_, ++n;
      return n;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return Fail(Malformed("expected a value", start));
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return Fail(Malformed("bad number", start));
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Fail(Malformed("bad number", start));
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  bool ConsumeWord(std::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // Any value, discarded (for nested members).
  Status SkipValue(int depth) {
    if (depth > kMaxDepth) return Fail(Malformed("nesting too deep", pos_));
    char c = Peek();
    if (c == '"') {
      FK_TRY(ReadString());
      return {};
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      if (Consume(close)) return {};
      while (true) {
        if (close == '}') {
          FK_TRY(ReadString());
          if (!Consume(':')) return Fail(Malformed("expected ':'", pos_));
        }
        FK_TRY(SkipValue(depth + 1));
        if (Consume(close)) return {};
        if (!Consume(',')) return Fail(Malformed("expected ',' or a closing bracket", pos_));
      }
    }
    if (ConsumeWord("true") || ConsumeWord("false") || ConsumeWord("null")) return {};
    FK_TRY(ReadNumber());
    return {};
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  Result<std::uint32_t> ReadHex4() {
    if (pos_ + 4 > text_.size()) return Fail(Malformed("short \\u escape", pos_));
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, v, 16);
    if (ec != std::errc() || end != text_.data() + pos_ + 4)
      return Fail(Malformed("bad \\u escape", pos_));
    pos_ += 4;
    return v;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<FlatJsonObject> FlatJsonObject::Parse(std::string_view text) {
  Reader r(text);
  FlatJsonObject obj;
  if (!r.Consume('{')) return Fail(Malformed("expected an object", r.pos()));
  if (!r.Consume('}')) {
    while (true) {
      std::string key = FK_TRY(r.ReadString());
      if (obj.Find(key) != nullptr) {
        return Fail(ErrorCode::kInvalidInput, "malformed JSON: duplicate key '" + key + "'");
      }
      if (!r.Consume(':')) return Fail(Malformed("expected ':'", r.pos()));
      char c = r.Peek();
      if (c == '"') {
        obj.Put(key, Kind::kString, FK_TRY(r.ReadString()));
      } else if (c == '{' || c == '[') {
        FK_TRY(r.SkipValue(1));
        obj.Put(key, Kind::kNested, "");
      } else if (r.ConsumeWord("true")) {
        obj.Put(key, Kind::kBool, "true");
      } else if (r.ConsumeWord("false")) {
        obj.Put(key, Kind::kBool, "false");
      } else if (r.ConsumeWord("null")) {
        obj.Put(key, Kind::kNull, "");
      } else {
        obj.Put(key, Kind::kNumber, FK_TRY(r.ReadNumber()));
      }
      if (r.Consume('}')) break;
      if (!r.Consume(',')) return Fail(Malformed("expected ',' or '}'", r.pos()));
    }
  }
  if (!r.AtEnd()) return Fail(Malformed("trailing bytes", r.pos()));
  return obj;
}

const FlatJsonObject::Member* FlatJsonObject::Find(std::string_view key) const {
  for (const auto& m : members_) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

std::optional<std::string> FlatJsonObject::String(std::string_view key) const {
  const Member* m = Find(key);
  if (m == nullptr || m->kind != Kind::kString) return std::nullopt;
  return m->value;
}

std::optional<std::int64_t> FlatJsonObject::Int(std::string_view key) const {
  const Member* m = Find(key);
  if (m == nullptr || m->kind != Kind::kNumber) return std::nullopt;
  std::int64_t v = 0;
  const char* begin = m->value.data();
  const char* end = begin + m->value.size();
  auto [p, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::optional<bool> FlatJsonObject::Bool(std::string_view key) const {
  const Member* m = Find(key);
  if (m == nullptr || m->kind != Kind::kBool) return std::nullopt;
  return m->value == "true";
}

bool FlatJsonObject::Contains(std::string_view key) const { return Find(key) != nullptr; }

void FlatJsonObject::Put(std::string_view key, Kind kind, std::string value) {
  for (auto& m : members_) {
    if (m.key == key) {
      m.kind = kind;
      m.value = std::move(value);
      return;
    }
  }
  members_.push_back(Member{std::string(key), kind, std::move(value)});
}

void FlatJsonObject::SetString(std::string_view key, std::string_view value) {
  Put(key, Kind::kString, std::string(value));
}

void FlatJsonObject::SetInt(std::string_view key, std::int64_t value) {
  Put(key, Kind::kNumber, std::to_string(value));
}

void FlatJsonObject::SetBool(std::string_view key, bool value) {
  Put(key, Kind::kBool, value ? "true" : "false");
}

std::string FlatJsonObject::Serialize() const {
  std::string out = "{";
  for (const auto& m : members_) {
    if (out.size() > 1) out.push_back(',');
    json_text::AppendString(out, m.key);
    out.push_back(':');
    switch (m.kind) {
      case Kind::kString:
        json_text::AppendString(out, m.value);
        break;
      case Kind::kNumber:
      case Kind::kBool:
        out += m.value;
        break;
      case Kind::kNull:
      case Kind::kNested:
        out += "null";
        break;
    }
  }
  out.push_back('}');
  return out;
}

}  // namespace fogkeep::node::runtime
