// A bounded YAML reader for descriptors and configuration files.
//
// yaml-cpp parses; this layer copies its node graph into a plain tree while enforcing limits,
// so hostile documents cannot exhaust memory or the stack: input size, nesting depth and the
// total number of nodes visited (aliases count each time they are expanded, which defeats
// "billion laughs" alias bombs). Map keys must be unique scalars. yaml-cpp's exceptions are
// caught here and become kInvalidInput errors with a line number.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace fogkeep::yaml {

class Node {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }
  bool IsScalar() const { return kind_ == Kind::kScalar; }
  bool IsSequence() const { return kind_ == Kind::kSequence; }
  bool IsMap() const { return kind_ == Kind::kMap; }
  int line() const { return line_; }  // 1-based line in the source, 0 when unknown

  const std::string& scalar() const { return scalar_; }
  const std::vector<Node>& items() const { return items_; }
  const std::vector<std::pair<std::string, Node>>& entries() const { return entries_; }

  // The value under `key` of a map, or nullptr (also for non-maps).
  const Node* Find(std::string_view key) const;

  static Node Null(int line = 0);
  static Node Scalar(std::string value, int line = 0);
  static Node Sequence(std::vector<Node> items, int line = 0);
  static Node Map(std::vector<std::pair<std::string, Node>> entries, int line = 0);

 private:
  Kind kind_ = Kind::kNull;
  int line_ = 0;
  std::string scalar_;
  std::vector<Node> items_;
  std::vector<std::pair<std::string, Node>> entries_;
};

struct Limits {
  std::size_t max_bytes = 1 << 20;
  std::size_t max_nodes = 100'000;
  int max_depth = 64;
};

// Parses one YAML document. An empty document is a null node.
Result<Node> Parse(std::string_view text, const Limits& limits = {});

}  // namespace fogkeep::yaml
