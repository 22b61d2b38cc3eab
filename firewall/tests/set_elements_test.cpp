// The elements netd writes into the table's sets, as nftnl holds them before they go to the
// kernel: key bytes, interval ends, map data and timeouts.

#include "set_elements.hpp"

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "nft_objects.hpp"

namespace netd::firewall {
namespace {

using Bytes = std::vector<std::uint8_t>;

Ipv4Address Ip(const char* text) {
  return Ipv4Address::Parse(text).value();
}

MacAddress Mac(const char* text) {
  return MacAddress::Parse(text).value();
}

SetElementPtr NewElement() {
  SetElementPtr element(nftnl_set_elem_alloc());
  if (!element) throw std::bad_alloc();
  return element;
}

// An attribute's bytes; empty when it is not set.
Bytes Attribute(nftnl_set_elem* element, std::uint16_t attribute) {
  std::uint32_t length = 0;
  const auto* data =
      static_cast<const std::uint8_t*>(nftnl_set_elem_get(element, attribute, &length));
  return data ? Bytes(data, data + length) : Bytes();
}

TEST(SetElements, AnAllowKeyIsVmDestinationProtocolPortEachPaddedTo32Bits) {
  auto element = NewElement();
  EncodeExactAllow(element.get(), {Ip("10.20.0.5"), Ip("93.184.216.34"), IPPROTO_TCP, 443, 0},
                   ElementOperation::kAdd);
  EXPECT_EQ(Attribute(element.get(), NFTNL_SET_ELEM_KEY),
            (Bytes{10, 20, 0, 5, 93, 184, 216, 34, IPPROTO_TCP, 0, 0, 0, 0x01, 0xbb, 0, 0}));
  EXPECT_FALSE(nftnl_set_elem_is_set(element.get(), NFTNL_SET_ELEM_TIMEOUT));
  EXPECT_FALSE(nftnl_set_elem_is_set(element.get(), NFTNL_SET_ELEM_KEY_END));
}

TEST(SetElements, AnAllowTimeoutGoesWithTheAdditionOnly) {
  const ExactAllow learned{Ip("10.20.0.5"), Ip("1.1.1.1"), IPPROTO_UDP, 53, 30'000};
  auto added = NewElement();
  EncodeExactAllow(added.get(), learned, ElementOperation::kAdd);
  EXPECT_EQ(nftnl_set_elem_get_u64(added.get(), NFTNL_SET_ELEM_TIMEOUT), 30'000u);

  auto deleted = NewElement();
  EncodeExactAllow(deleted.get(), learned, ElementOperation::kDelete);
  EXPECT_FALSE(nftnl_set_elem_is_set(deleted.get(), NFTNL_SET_ELEM_TIMEOUT));
  EXPECT_EQ(Attribute(deleted.get(), NFTNL_SET_ELEM_KEY),
            Attribute(added.get(), NFTNL_SET_ELEM_KEY));
}

TEST(SetElements, ARangeRunsFromTheBoxsFirstCornerToItsLastInclusive) {
  auto element = NewElement();
  EncodeRangeAllow(element.get(), {Ip("10.20.0.5"), Ip("192.168.0.0"), Ip("192.168.3.255"),
                                   IPPROTO_UDP, PortRange{1000, 2000}});
  EXPECT_EQ(Attribute(element.get(), NFTNL_SET_ELEM_KEY),
            (Bytes{10, 20, 0, 5, 192, 168, 0, 0, IPPROTO_UDP, 0, 0, 0, 0x03, 0xe8, 0, 0}));
  EXPECT_EQ(Attribute(element.get(), NFTNL_SET_ELEM_KEY_END),
            (Bytes{10, 20, 0, 5, 192, 168, 3, 255, IPPROTO_UDP, 0, 0, 0, 0x07, 0xd0, 0, 0}));
  EXPECT_FALSE(nftnl_set_elem_is_set(element.get(), NFTNL_SET_ELEM_TIMEOUT));
}

TEST(SetElements, ABindingIsItsMacInTwoRegistersThenItsAddress) {
  auto element = NewElement();
  EncodeBinding(element.get(), {Mac("52:54:0a:14:00:05"), Ip("10.20.0.5")});
  EXPECT_EQ(Attribute(element.get(), NFTNL_SET_ELEM_KEY),
            (Bytes{0x52, 0x54, 10, 20, 0, 5, 0, 0, 10, 20, 0, 5}));
}

TEST(SetElements, ADhcpClientIsItsMacAsSourceAndChaddrThenCiaddr) {
  auto element = NewElement();
  EncodeDhcpClient(element.get(), Mac("52:54:0a:14:00:05"), Ip("10.20.0.5"));
  EXPECT_EQ(Attribute(element.get(), NFTNL_SET_ELEM_KEY),
            (Bytes{0x52, 0x54, 10, 20, 0, 5, 0, 0, 0x52, 0x54, 10, 20, 0, 5, 0, 0, 10, 20, 0, 5}));
}

TEST(SetElements, AForwardMapsClientAndListenPortToVmAndVmPortWhileItLasts) {
  const ForwardElement forward{Ip("198.51.100.7"), 6001, Ip("10.20.0.5"), 22, 3'602'000};
  auto added = NewElement();
  EncodeForward(added.get(), forward, ElementOperation::kAdd);
  EXPECT_EQ(Attribute(added.get(), NFTNL_SET_ELEM_KEY), (Bytes{198, 51, 100, 7, 0x17, 0x71, 0, 0}));
  EXPECT_EQ(Attribute(added.get(), NFTNL_SET_ELEM_DATA), (Bytes{10, 20, 0, 5, 0, 22, 0, 0}));
  EXPECT_EQ(nftnl_set_elem_get_u64(added.get(), NFTNL_SET_ELEM_TIMEOUT), 3'602'000u);

  // Deleted by key: a renewal replaces the element whatever its data and time left.
  auto deleted = NewElement();
  EncodeForward(deleted.get(), forward, ElementOperation::kDelete);
  EXPECT_EQ(Attribute(deleted.get(), NFTNL_SET_ELEM_KEY),
            Attribute(added.get(), NFTNL_SET_ELEM_KEY));
  EXPECT_FALSE(nftnl_set_elem_is_set(deleted.get(), NFTNL_SET_ELEM_DATA));
  EXPECT_FALSE(nftnl_set_elem_is_set(deleted.get(), NFTNL_SET_ELEM_TIMEOUT));
}

TEST(SetElements, ANetworkJumpsFromItsInterfaceNameToItsChain) {
  auto element = NewElement();
  EncodeNetworkJump(element.get(), "br-secure", "input_secure");
  Bytes key(16, 0);
  std::copy_n("br-secure", 9, key.begin());
  EXPECT_EQ(Attribute(element.get(), NFTNL_SET_ELEM_KEY), key);
  EXPECT_EQ(nftnl_set_elem_get_u32(element.get(), NFTNL_SET_ELEM_VERDICT),
            static_cast<std::uint32_t>(NFT_JUMP));
  EXPECT_STREQ(nftnl_set_elem_get_str(element.get(), NFTNL_SET_ELEM_CHAIN), "input_secure");
}

// Every message's element list is checked against its 16-bit attribute length as it is built
// (a longer list would wrap around and the kernel would read only its first elements).
TEST(SetElements, ManyElementsTravelInMessagesThatFitTheirAttribute) {
  TableElements elements;
  for (std::uint32_t i = 0; i < 5000; ++i) {
    Ipv4Address vm(0x0a140000 + i);
    elements.exact.push_back({vm, Ipv4Address(0x01000000 + i), IPPROTO_TCP, 65535, 86'400'000});
    elements.ranges.push_back(
        {vm, Ipv4Address(0x08000000), Ipv4Address(0x08ffffff), IPPROTO_UDP, PortRange{1, 65535}});
    elements.bindings.push_back({MacAddress(0x5254'0000'0000ULL + i), vm});
    elements.forwards.push_back({Ipv4Address(0xc6336400 + i), 6000, vm, 22, 86'400'000});
  }
  NftBatch batch;
  EXPECT_NO_THROW(AddElements(batch, ElementOperation::kAdd, elements));
  // Per message (60 KiB by a bound on each set's element size): 1,396 allow4, 960
  // allow4_ranges, 1,920 vm_bind4, 1,536 dhcp_clients4 (two a binding), 960 fwd4.
  EXPECT_EQ(batch.messages(), 4u + 6u + 3u + 7u + 6u);
}

TEST(SetElements, AChangeSendsMessagesOnlyForTheSetsItTouches) {
  ElementChanges changes;
  changes.remove.exact.push_back({Ip("10.20.0.5"), Ip("1.1.1.1"), IPPROTO_TCP, 443, 0});
  changes.add.exact.push_back({Ip("10.20.0.5"), Ip("1.1.1.2"), IPPROTO_TCP, 443, 0});
  changes.add.bindings.push_back({Mac("52:54:0a:14:00:05"), Ip("10.20.0.5")});
  NftBatch batch;
  AddElementChanges(batch, changes);
  // One message for each set with elements: allow4 (deletion), then allow4, vm_bind4 and
  // dhcp_clients4.
  EXPECT_EQ(batch.messages(), 4u);
}

}  // namespace
}  // namespace netd::firewall
