// argon2id PHC strings: round trip, parameters honoured, strict parsing, and agreement with
// libargon2's own encoder (so hashes move to and from other argon2id implementations).
#include "auth/password_hash.h"

#include <argon2.h>
#include <gtest/gtest.h>

#include <string>

namespace fogkeep::auth {
namespace {

// Cheap parameters: these tests are about format and correctness, not cost.
const Argon2Params kCheap{.memory_kib = 64, .passes = 1, .lanes = 1};

TEST(PasswordHashTest, RoundTrip) {
  auto phc = HashPassword("correct horse battery staple", kCheap);
  ASSERT_TRUE(phc) << phc.error().message();
  EXPECT_TRUE(phc->starts_with("$argon2id$v=19$m=64,t=1,p=1$")) << *phc;
  auto right = VerifyPassword(*phc, "correct horse battery staple");
  ASSERT_TRUE(right);
  EXPECT_TRUE(*right);
  auto wrong = VerifyPassword(*phc, "correct horse battery stapler");
  ASSERT_TRUE(wrong);
  EXPECT_FALSE(*wrong);
  EXPECT_FALSE(*VerifyPassword(*phc, ""));
}

TEST(PasswordHashTest, SaltIsFreshPerHash) {
  auto a = HashPassword("same password", kCheap);
  auto b = HashPassword("same password", kCheap);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_NE(ParsePhc(*a)->salt, ParsePhc(*b)->salt);
}

TEST(PasswordHashTest, ParametersAreHonoured) {
  Argon2Params params{
      .memory_kib = 256, .passes = 3, .lanes = 2, .salt_bytes = 24, .hash_bytes = 48};
  auto phc = HashPassword("pw", params);
  ASSERT_TRUE(phc) << phc.error().message();
  auto parsed = ParsePhc(*phc);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->params, params);
  EXPECT_EQ(parsed->salt.size(), 24u);
  EXPECT_EQ(parsed->hash.size(), 48u);
  // The same computation through libargon2's reference encoder gives the same string.
  std::string reference(::argon2_encodedlen(3, 256, 2, 24, 48, Argon2_id), '\0');
  ASSERT_EQ(::argon2id_hash_encoded(3, 256, 2, "pw", 2, parsed->salt.data(), parsed->salt.size(),
                                    48, reference.data(), reference.size()),
            ARGON2_OK);
  reference.resize(reference.find('\0'));
  EXPECT_EQ(*phc, reference);
  EXPECT_EQ(FormatPhc(*parsed), *phc);
}

TEST(PasswordHashTest, VerifiesHashesFromLibargon2) {
  std::string salt = "0123456789abcdef";
  std::string encoded(::argon2_encodedlen(2, 128, 1, salt.size(), 32, Argon2_id), '\0');
  ASSERT_EQ(::argon2id_hash_encoded(2, 128, 1, "secret", 6, salt.data(), salt.size(), 32,
                                    encoded.data(), encoded.size()),
            ARGON2_OK);
  encoded.resize(encoded.find('\0'));
  EXPECT_TRUE(*VerifyPassword(encoded, "secret"));
  EXPECT_FALSE(*VerifyPassword(encoded, "Secret"));
}

TEST(PasswordHashTest, DefaultsAreOwaspsAndStrongEnough) {
  Argon2Params defaults;
  EXPECT_EQ(defaults.memory_kib, 19456u);
  EXPECT_EQ(defaults.passes, 2u);
  EXPECT_EQ(defaults.lanes, 1u);
  EXPECT_FALSE(IsWeakerThanDefault(defaults));
  EXPECT_TRUE(IsWeakerThanDefault(kCheap));
  EXPECT_FALSE(IsWeakerThanDefault({.memory_kib = 65536, .passes = 3, .lanes = 4}));
}

TEST(PasswordHashTest, RejectsBadParameters) {
  EXPECT_FALSE(ValidateParams({.memory_kib = 4, .passes = 1, .lanes = 1}));
  EXPECT_FALSE(ValidateParams({.memory_kib = 64, .passes = 0, .lanes = 1}));
  EXPECT_FALSE(ValidateParams({.memory_kib = 64, .passes = 1, .lanes = 0}));
  EXPECT_FALSE(ValidateParams({.memory_kib = 64, .passes = 1, .lanes = 9}));  // < 8 KiB/lane
  EXPECT_FALSE(ValidateParams({.memory_kib = kArgon2MaxMemoryKib + 1, .passes = 1, .lanes = 1}));
  EXPECT_FALSE(ValidateParams({.memory_kib = 64, .passes = 1, .lanes = 1, .salt_bytes = 7}));
  EXPECT_FALSE(ValidateParams({.memory_kib = 64, .passes = 1, .lanes = 1, .hash_bytes = 8}));
  EXPECT_FALSE(HashPassword("pw", {.memory_kib = 4, .passes = 1, .lanes = 1}));
}

TEST(PasswordHashTest, ParseIsStrict) {
  const std::string good = *HashPassword("pw", kCheap);
  ASSERT_TRUE(ParsePhc(good));
  const std::string tail = good.substr(good.find('$', 15));  // "$<salt>$<hash>"
  for (const std::string& bad : {
           std::string(""),
           "$argon2i$v=19$m=64,t=1,p=1" + tail,    // other variant
           "$argon2d$v=19$m=64,t=1,p=1" + tail,    //
           "$argon2id$v=16$m=64,t=1,p=1" + tail,   // other version
           "$argon2id$m=64,t=1,p=1" + tail,        // no version
           "$argon2id$v=19$t=1,m=64,p=1" + tail,   // order
           "$argon2id$v=19$m=064,t=1,p=1" + tail,  // leading zero
           "$argon2id$v=19$m=+64,t=1,p=1" + tail,  // sign
           "$argon2id$v=19$m=64,t=1" + tail,       // missing p
           "$argon2id$v=19$m=64,t=1,p=1,x=1" + tail,
           "$argon2id$v=19$m=99999999999,t=1,p=1" + tail,
           "$argon2id$v=19$m=64,t=1000,p=1" + tail,  // over the pass bound
           "$argon2id$v=19$m=64,t=1,p=1" + tail + "$",
           "$argon2id$v=19$m=64,t=1,p=1" + tail + "=",  // padded base64
           "$argon2id$v=19$m=64,t=1,p=1$$" + good.substr(good.rfind('$') + 1),
           good.substr(0, good.rfind('$') + 1) + "AAAA",  // hash too short
           good + "\n",
       }) {
    EXPECT_FALSE(ParsePhc(bad)) << bad;
    EXPECT_FALSE(VerifyPassword(bad, "pw")) << bad;
  }
}

}  // namespace
}  // namespace fogkeep::auth
