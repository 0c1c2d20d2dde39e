#include "core/error.h"

#include <gtest/gtest.h>

namespace fogkeep {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Fail(ErrorCode::kInvalidInput, std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  int h = FK_TRY_CTX(Half(x), "quarter");
  return FK_TRY(Half(h));
}

TEST(ErrorTest, TryPropagatesValueAndError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto odd = Quarter(3);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(odd.error().message(), "quarter: 3 is odd");
  auto inner = Quarter(6);
  ASSERT_FALSE(inner);
  EXPECT_EQ(inner.error().message(), "3 is odd");
}

TEST(ErrorTest, CodeNamesAreStable) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kIntegrity), "integrity");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNotFound), "not_found");
  EXPECT_EQ(FailErrno("open x", ENOENT).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(FailErrno("open x", EACCES).error().code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace fogkeep
