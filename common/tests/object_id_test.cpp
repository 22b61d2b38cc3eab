#include "netd/common/object_id.hpp"

#include <gtest/gtest.h>

#include <string>

namespace netd {
namespace {

TEST(ObjectIds, OneToSixtyFourLettersDigitsDotsUnderscoresAndHyphens) {
  for (auto good : {"vm1", "VM-1.a_b", "-", "."}) EXPECT_TRUE(IsValidObjectId(good)) << good;
  EXPECT_TRUE(IsValidObjectId(std::string(kMaxObjectIdLength, 'a')));
  EXPECT_FALSE(IsValidObjectId(std::string(kMaxObjectIdLength + 1, 'a')));
  for (auto bad : {"", "vm 1", "vm/1", "vm%1", "\xc3\xa9"})
    EXPECT_FALSE(IsValidObjectId(bad)) << bad;
}

}  // namespace
}  // namespace netd
