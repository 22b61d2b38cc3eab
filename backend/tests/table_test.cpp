#include "netctl/table.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "netctl/format.hpp"

namespace netd::netctl {
namespace {

TEST(NetctlTableTest, PadsEachColumnToItsWidestCell) {
  Table table({{"VM"}, {"NETWORK"}, {"IP"}});
  table.AddRow({"vm-1", "secure", "192.168.129.1"});
  table.AddRow({"a-much-longer-vm", "service", "192.168.122.3"});
  EXPECT_EQ(table.Render(),
            "VM                NETWORK  IP\n"
            "vm-1              secure   192.168.129.1\n"
            "a-much-longer-vm  service  192.168.122.3\n");
}

TEST(NetctlTableTest, RightAlignsNumericColumns) {
  Table table({{"NETWORK"}, {"VMS", Align::kRight}});
  table.AddRow({"secure", "1"});
  table.AddRow({"service", "1024"});
  EXPECT_EQ(table.Render(),
            "NETWORK   VMS\n"
            "secure      1\n"
            "service  1024\n");
}

TEST(NetctlTableTest, LeavesNoTrailingBlanks) {
  Table table({{"VM"}, {"HOSTNAME"}});
  table.AddRow({"vm-1", ""});
  table.AddRow({"vm-22", "h"});
  EXPECT_EQ(table.Render(),
            "VM     HOSTNAME\n"
            "vm-1\n"
            "vm-22  h\n");
}

TEST(NetctlTableTest, WithoutRowsPrintsTheHeader) {
  Table table({{"SEQ", Align::kRight}, {"ACTION"}});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "SEQ  ACTION\n");
}

TEST(NetctlTableTest, CountsUtf8CharactersNotBytes) {
  Table table({{"EXE"}, {"PID"}});
  table.AddRow({"/opt/björn", "1"});
  table.AddRow({"/opt/bjorn2", "2"});
  EXPECT_EQ(table.Render(),
            "EXE          PID\n"
            "/opt/björn   1\n"
            "/opt/bjorn2  2\n");
  EXPECT_EQ(DisplayWidth("björn"), 5u);
}

TEST(NetctlTableTest, RefusesRowsOfTheWrongWidth) {
  Table table({{"A"}, {"B"}});
  EXPECT_THROW(table.AddRow({"only one"}), std::invalid_argument);
  EXPECT_THROW(table.AddRow({"1", "2", "3"}), std::invalid_argument);
}

TEST(NetctlFieldsTest, AlignsValuesAfterTheLongestLabel) {
  EXPECT_EQ(RenderFields({{"vm", "vm-1"}, {"hostname", "-"}, {"ip", "192.168.129.1"}}),
            "vm:        vm-1\n"
            "hostname:  -\n"
            "ip:        192.168.129.1\n");
}

TEST(NetctlFieldsTest, NoFieldsPrintNothing) {
  EXPECT_EQ(RenderFields({}), "");
}

TEST(NetctlFormatTest, DurationsUseUnitsFromTheLargestNonZeroOne) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(12), "12s");
  EXPECT_EQ(FormatDuration(60), "1m 0s");
  EXPECT_EQ(FormatDuration(3 * 60 + 5), "3m 5s");
  EXPECT_EQ(FormatDuration(2 * 3600 + 7), "2h 0m 7s");
  EXPECT_EQ(FormatDuration(4 * 86400 + 3600), "4d 1h 0m 0s");
}

TEST(NetctlFormatTest, UnixMillisecondsAsRfc3339Utc) {
  EXPECT_EQ(FormatUnixMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUnixMillis(1764334800123), "2025-11-28T13:00:00.123Z");
  EXPECT_EQ(FormatUnixMillis(951782400000), "2000-02-29T00:00:00.000Z");
}

TEST(NetctlFormatTest, UnsetValuesShowAsDash) {
  EXPECT_EQ(OrDash(std::nullopt), "-");
  EXPECT_EQ(OrDash(std::string("h1")), "h1");
}

TEST(NetctlFormatTest, LongListsAreShortenedToACount) {
  EXPECT_EQ(Shortened({}, 3), "-");
  EXPECT_EQ(Shortened({"1717"}, 3), "1717");
  EXPECT_EQ(Shortened({"a", "b", "c"}, 3), "a,b,c");
  EXPECT_EQ(Shortened({"a", "b", "c", "d", "e"}, 3), "a,b,c +2 more");
}

TEST(NetctlFormatTest, DnsTypesByMnemonicOthersByNumber) {
  EXPECT_EQ(DnsTypeName(1), "A");
  EXPECT_EQ(DnsTypeName(28), "AAAA");
  EXPECT_EQ(DnsTypeName(16), "TXT");
  EXPECT_EQ(DnsTypeName(255), "ANY");
  EXPECT_EQ(DnsTypeName(5), "CNAME");
  EXPECT_EQ(DnsTypeName(15), "MX");
  EXPECT_EQ(DnsTypeName(0), "TYPE0");
  EXPECT_EQ(DnsTypeName(99), "TYPE99");
  EXPECT_EQ(DnsTypeName(65535), "TYPE65535");
}

}  // namespace
}  // namespace netd::netctl
