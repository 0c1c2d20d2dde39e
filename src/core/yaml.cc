#include "core/yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <exception>
#include <unordered_set>

namespace fogkeep::yaml {
namespace {

class Converter {
 public:
  explicit Converter(const Limits& limits) : limits_(limits) {}

  Result<Node> Convert(const YAML::Node& in, int depth) {
    if (++visited_ > limits_.max_nodes) {
      return Fail(ErrorCode::kLimit, "document expands to more than " +
                                         std::to_string(limits_.max_nodes) +
                                         " nodes (alias bomb?)");
    }
    if (depth > limits_.max_depth) {
      return Fail(ErrorCode::kLimit,
                  "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    int line = in.Mark().line + 1;
    switch (in.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return Node::Null(line);
      case YAML::NodeType::Scalar:
        return Node::Scalar(in.Scalar(), line);
      case YAML::NodeType::Sequence: {
        std::vector<Node> items;
        for (const auto& item : in) items.push_back(FK_TRY(Convert(item, depth + 1)));
        return Node::Sequence(std::move(items), line);
      }
      case YAML::NodeType::Map: {
        std::vector<std::pair<std::string, Node>> entries;
        // A set, not a scan of `entries`: a scan is quadratic, and a 400 KB map of unique
        // keys took most of a minute.
        std::unordered_set<std::string> seen;
        for (const auto& kv : in) {
          if (!kv.first.IsScalar()) {
            return Fail(ErrorCode::kInvalidInput, "line " +
                                                      std::to_string(kv.first.Mark().line + 1) +
                                                      ": map keys must be plain scalars");
          }
          std::string key = kv.first.Scalar();
          if (!seen.insert(key).second) {
            return Fail(ErrorCode::kInvalidInput, "line " +
                                                      std::to_string(kv.first.Mark().line + 1) +
                                                      ": duplicate key '" + key + "'");
          }
          ++visited_;
          entries.emplace_back(std::move(key), FK_TRY(Convert(kv.second, depth + 1)));
        }
        return Node::Map(std::move(entries), line);
      }
    }
    return Fail(ErrorCode::kInternal, "unknown YAML node type");
  }

 private:
  const Limits& limits_;
  std::size_t visited_ = 0;
};

}  // namespace

const Node* Node::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Node Node::Null(int line) {
  Node n;
  n.line_ = line;
  return n;
}
Node Node::Scalar(std::string value, int line) {
  Node n;
  n.kind_ = Kind::kScalar;
  n.scalar_ = std::move(value);
  n.line_ = line;
  return n;
}
Node Node::Sequence(std::vector<Node> items, int line) {
  Node n;
  n.kind_ = Kind::kSequence;
  n.items_ = std::move(items);
  n.line_ = line;
  return n;
}
Node Node::Map(std::vector<std::pair<std::string, Node>> entries, int line) {
  Node n;
  n.kind_ = Kind::kMap;
  n.entries_ = std::move(entries);
  n.line_ = line;
  return n;
}

Result<Node> Parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_bytes) {
    return Fail(ErrorCode::kLimit,
                "YAML document larger than " + std::to_string(limits.max_bytes) + " bytes");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion&) {
    // yaml-cpp's own recursion guard (2000 levels) reports itself as "bad file" with a mark
    // that points past the offending line, so neither is passed on.
    return Fail(ErrorCode::kLimit,
                "nesting deeper than " + std::to_string(limits.max_depth) + " levels");
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidInput,
                "malformed YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidInput, std::string("malformed YAML: ") + e.what());
  }
  try {
    Converter converter(limits);
    return converter.Convert(root, 0);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidInput, std::string("malformed YAML: ") + e.what());
  }
}

}  // namespace fogkeep::yaml
