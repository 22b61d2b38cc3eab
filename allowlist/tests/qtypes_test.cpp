#include "netd/allowlist/qtypes.hpp"

#include <gtest/gtest.h>

namespace netd::allowlist {
namespace {

TEST(Qtypes, OnlyTypesARuleMayAllowAreForwardable) {
  EXPECT_EQ(ForwardableQtype("A"), kQtypeA);
  EXPECT_EQ(ForwardableQtype("aaaa"), kQtypeAaaa);
  EXPECT_EQ(ForwardableQtype("Txt"), 16);
  EXPECT_EQ(ForwardableQtype("HTTPS"), 65);
  EXPECT_FALSE(ForwardableQtype("ANY"));
  EXPECT_FALSE(ForwardableQtype("NULL"));
  EXPECT_FALSE(ForwardableQtype("OPT"));
  EXPECT_FALSE(ForwardableQtype("TYPE1"));
  EXPECT_FALSE(ForwardableQtype(""));
  EXPECT_EQ(ForwardableQtypeNames(),
            "A, AAAA, CAA, CNAME, HTTPS, MX, NS, PTR, SOA, SRV, SVCB, TXT");
}

TEST(Qtypes, NamedTypesByMnemonicAndTheRestByNumber) {
  EXPECT_EQ(QtypeName(16), "TXT");
  EXPECT_EQ(QtypeName(10), "NULL");
  EXPECT_EQ(QtypeName(255), "ANY");
  EXPECT_EQ(QtypeName(4242), "TYPE4242");
}

}  // namespace
}  // namespace netd::allowlist
