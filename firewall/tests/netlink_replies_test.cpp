// The readers of the kernel's netlink answers on bytes the kernel would never send: what the
// fuzz target (tests/fuzz/netlink_fuzz.cpp) found, kept as cases.
#include "netlink_replies.hpp"

#include <endian.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

namespace netd::firewall::netlink {
namespace {

// One receive buffer of messages built with libmnl.
class Receive {
 public:
  nlmsghdr* Add(std::uint16_t type, std::uint32_t sequence) {
    auto* header = mnl_nlmsg_put_header(bytes_.data() + used_);
    header->nlmsg_type = type;
    header->nlmsg_seq = sequence;
    last_ = header;
    return header;
  }
  // Closes the last message added.
  void Close() { used_ += MNL_ALIGN(last_->nlmsg_len); }
  std::span<const char> bytes() const { return {bytes_.data(), used_}; }

 private:
  std::vector<char> bytes_ = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
  std::size_t used_ = 0;
  nlmsghdr* last_ = nullptr;
};

void AddError(Receive& receive, std::uint32_t sequence, int error) {
  auto* header = receive.Add(NLMSG_ERROR, sequence);
  auto* payload = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(header, sizeof(nlmsgerr)));
  payload->error = error;
  payload->msg.nlmsg_len = sizeof(nlmsghdr);
  payload->msg.nlmsg_seq = sequence;
  receive.Close();
}

TEST(NetlinkReplies, AMessageLengthPastIntMaxEndsTheWalkInsteadOfLeavingTheBuffer) {
  Receive receive;
  AddError(receive, 7, 0);
  auto* broken = receive.Add(NLMSG_ERROR, 7);
  receive.Close();
  broken->nlmsg_len = 0x80000010u;  // libmnl's mnl_nlmsg_ok takes this as negative: it fits
  std::size_t seen = 0;
  ForEachMessage(receive.bytes(), [&](const nlmsghdr*) { ++seen; });
  EXPECT_EQ(seen, 1u);

  ConntrackFilter filter;
  ConntrackDump dump{.filter = filter, .matches = {}};
  errno = 0;
  EXPECT_EQ(ReadConntrackDump(receive.bytes(), 7, 0, dump), MNL_CB_ERROR);
  EXPECT_EQ(errno, EBADMSG);
  AddressDump addresses;
  EXPECT_EQ(ReadAddressDump(receive.bytes(), 7, 0, addresses), MNL_CB_ERROR);
}

TEST(NetlinkReplies, AnErrorThatIsNoErrnoIsReadAsAMalformedAnswer) {
  Receive receive;
  AddError(receive, 100, INT_MIN);  // negating it overflows
  AddError(receive, 101, 5);        // positive: not an errno either
  AddError(receive, 102, -EEXIST);
  TransactionAcks acks{.begin_sequence = 100, .messages = 2};
  ReadTransactionAcks(receive.bytes(), acks);
  EXPECT_EQ(acks.answered, 3u);
  ASSERT_TRUE(acks.first_refusal);
  EXPECT_EQ(acks.first_refusal->index, 0u);
  EXPECT_EQ(acks.first_refusal->error, EBADMSG);
}

TEST(NetlinkReplies, ShortErrorsAndAcksBeyondThePendingDeletesAreRefused) {
  Receive receive;
  receive.Add(NLMSG_ERROR, 7);  // without its nlmsgerr
  receive.Close();
  ConntrackAcks acks{.pending = 1};
  errno = 0;
  EXPECT_EQ(ReadConntrackAcks(receive.bytes(), 7, 0, acks), MNL_CB_ERROR);
  EXPECT_EQ(errno, EBADMSG);

  Receive two;
  AddError(two, 7, 0);
  AddError(two, 7, -ENOENT);
  ConntrackAcks one_pending{.pending = 1};
  EXPECT_EQ(ReadConntrackAcks(two.bytes(), 7, 0, one_pending), MNL_CB_ERROR);
  EXPECT_EQ(one_pending.deleted, 1u);
  EXPECT_EQ(one_pending.pending, 0u);
}

TEST(NetlinkReplies, SetElementsWithAMalformedAttributeAreReportedNotFatal) {
  Receive receive;
  auto* header = receive.Add((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM, 7);
  auto* family = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
  family->nfgen_family = NFPROTO_INET;
  auto* list = mnl_attr_nest_start(header, NFTA_SET_ELEM_LIST_ELEMENTS);
  auto* element = mnl_attr_nest_start(header, NFTA_LIST_ELEM);
  auto* key = mnl_attr_nest_start(header, NFTA_SET_ELEM_KEY);
  const std::uint8_t address[] = {198, 51, 100, 2};
  mnl_attr_put(header, NFTA_DATA_VALUE, sizeof(address), address);
  mnl_attr_nest_end(header, key);
  mnl_attr_put_u64(header, NFTA_SET_ELEM_EXPIRATION, htobe64(5000));
  mnl_attr_nest_end(header, element);
  element = mnl_attr_nest_start(header, NFTA_LIST_ELEM);
  // An expiration of 2 bytes: libnftnl would exit the process here.
  mnl_attr_put_u16(header, NFTA_SET_ELEM_EXPIRATION, 1);
  mnl_attr_nest_end(header, element);
  mnl_attr_nest_end(header, list);
  receive.Close();
  receive.Add(NLMSG_DONE, 7);
  receive.Close();

  SetElementsDump dump;
  ReadSetElements(receive.bytes(), 7, dump);
  EXPECT_TRUE(dump.done);
  EXPECT_TRUE(dump.malformed);
  ASSERT_EQ(dump.elements.size(), 1u);
  EXPECT_EQ(dump.elements[0].key, std::vector<std::uint8_t>({198, 51, 100, 2}));
  EXPECT_EQ(dump.elements[0].expires_in_ms, 5000u);
}

}  // namespace
}  // namespace netd::firewall::netlink
