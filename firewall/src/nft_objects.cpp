#include "nft_objects.hpp"

#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace netd::firewall {

RuleBuilder::RuleBuilder(const std::string& table, const std::string& chain, std::uint32_t family)
    : rule_(nftnl_rule_alloc()) {
  if (!rule_) throw std::bad_alloc();
  nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, family);
}

void RuleBuilder::AddExpression(const char* name, const std::function<void(nftnl_expr*)>& fill) {
  auto* expression = nftnl_expr_alloc(name);
  if (!expression) throw std::bad_alloc();
  fill(expression);
  nftnl_rule_add_expr(rule_.get(), expression);  // the rule owns it from here
}

RuleBuilder& RuleBuilder::MetaLoad(std::uint32_t key, std::uint32_t dreg) {
  AddExpression("meta", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
  });
  return *this;
}

RuleBuilder& RuleBuilder::Compare(std::uint32_t op, std::span<const std::uint8_t> data,
                                  std::uint32_t sreg) {
  AddExpression("cmp", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data.data(), static_cast<std::uint32_t>(data.size()));
  });
  return *this;
}

RuleBuilder& RuleBuilder::PayloadLoad(std::uint32_t base, std::uint32_t offset,
                                      std::uint32_t length, std::uint32_t dreg) {
  AddExpression("payload", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, length);
  });
  return *this;
}

RuleBuilder& RuleBuilder::Bitwise(std::span<const std::uint8_t> mask, std::uint32_t reg) {
  std::array<std::uint8_t, 16> zero{};
  return Bitwise(mask, std::span<const std::uint8_t>(zero.data(), mask.size()), reg);
}

RuleBuilder& RuleBuilder::Bitwise(std::span<const std::uint8_t> mask,
                                  std::span<const std::uint8_t> xor_bits, std::uint32_t reg) {
  if (mask.size() != xor_bits.size() || mask.size() > 16) {
    throw std::logic_error("bitwise: mask and xor of different or too large sizes");
  }
  AddExpression("bitwise", [&](nftnl_expr* e) {
    auto length = static_cast<std::uint32_t>(mask.size());
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, length);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask.data(), length);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_bits.data(), length);
  });
  return *this;
}

RuleBuilder& RuleBuilder::MetaSet(std::uint32_t key, std::uint32_t sreg) {
  AddExpression("meta", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
  });
  return *this;
}

RuleBuilder& RuleBuilder::FibDestinationType(std::uint32_t dreg) {
  AddExpression("fib", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
  });
  return *this;
}

RuleBuilder& RuleBuilder::CtLoad(std::uint32_t key, std::uint32_t dreg) {
  AddExpression("ct", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
  });
  return *this;
}

RuleBuilder& RuleBuilder::Lookup(const std::string& set, std::uint32_t sreg, bool inverted) {
  AddExpression("lookup", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    if (inverted) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  });
  return *this;
}

RuleBuilder& RuleBuilder::MapLookup(const std::string& map, std::uint32_t sreg,
                                    std::uint32_t dreg) {
  AddExpression("lookup", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, map.c_str());
  });
  return *this;
}

RuleBuilder& RuleBuilder::DestinationNat(std::uint32_t address_reg, std::uint32_t port_reg) {
  AddExpression("nat", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, address_reg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, port_reg);
  });
  return *this;
}

RuleBuilder& RuleBuilder::VerdictMap(const std::string& map, std::uint32_t sreg) {
  AddExpression("lookup", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, map.c_str());
  });
  return *this;
}

RuleBuilder& RuleBuilder::NamedCounter(const std::string& name) {
  AddExpression("objref", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
    nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name.c_str());
  });
  return *this;
}

RuleBuilder& RuleBuilder::Limit(std::uint64_t rate_per_second, std::uint32_t burst) {
  AddExpression("limit", [&](nftnl_expr* e) {
    nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate_per_second);
    nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
  });
  return *this;
}

RuleBuilder& RuleBuilder::Log(std::uint16_t group, const std::string& prefix) {
  AddExpression("log", [&](nftnl_expr* e) {
    nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix.c_str());
  });
  return *this;
}

RuleBuilder& RuleBuilder::Masquerade() {
  AddExpression("masq", [](nftnl_expr*) {});
  return *this;
}

RuleBuilder& RuleBuilder::Verdict(int verdict, const std::string& chain) {
  AddExpression("immediate", [&](nftnl_expr* e) {
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(verdict));
    if (!chain.empty()) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain.c_str());
  });
  return *this;
}

RuleBuilder& RuleBuilder::Comment(const std::string& text) {
  auto* buffer = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
  if (!buffer) throw std::bad_alloc();
  nftnl_udata_put_strz(buffer, NFTNL_UDATA_RULE_COMMENT, text.c_str());
  nftnl_rule_set_data(rule_.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(buffer),
                      nftnl_udata_buf_len(buffer));
  nftnl_udata_buf_free(buffer);
  return *this;
}

RuleBuilder& RuleBuilder::InterfaceIs(bool input, const std::string& name, bool equal) {
  std::array<std::uint8_t, 16> padded{};  // IFNAMSIZ, compared whole: an exact name
  std::memcpy(padded.data(), name.data(), std::min(name.size(), padded.size() - 1));
  MetaLoad(input ? NFT_META_IIFNAME : NFT_META_OIFNAME);
  return Compare(equal ? NFT_CMP_EQ : NFT_CMP_NEQ, padded);
}

RuleBuilder& RuleBuilder::NfprotoIs(std::uint8_t family) {
  MetaLoad(NFT_META_NFPROTO);
  return Compare(NFT_CMP_EQ, std::array<std::uint8_t, 1>{family});
}

RuleBuilder& RuleBuilder::L4protoIs(std::uint8_t protocol) {
  MetaLoad(NFT_META_L4PROTO);
  return Compare(NFT_CMP_EQ, std::array<std::uint8_t, 1>{protocol});
}

}  // namespace netd::firewall
