#include "netd/allowlist/name_pattern.hpp"

#include <gtest/gtest.h>

namespace netd::allowlist {
namespace {

TEST(NamePattern, ExactNamesAndOneLabelWildcards) {
  EXPECT_TRUE(NameMatches("license.example.org", "License.Example.org."));
  EXPECT_FALSE(NameMatches("license.example.org", "a.license.example.org"));
  EXPECT_TRUE(NameMatches("*.example.org", "a.example.org"));
  EXPECT_FALSE(NameMatches("*.example.org", "example.org"));
  EXPECT_FALSE(NameMatches("*.example.org", "a.b.example.org"));
  EXPECT_FALSE(NameMatches("*.example.org", "aexample.org"));
}

}  // namespace
}  // namespace netd::allowlist
