#pragma once

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace netd::firewall {

// Owners of libnftnl objects.
struct NftnlDeleter {
  void operator()(nftnl_table* table) const { nftnl_table_free(table); }
  void operator()(nftnl_chain* chain) const { nftnl_chain_free(chain); }
  void operator()(nftnl_rule* rule) const { nftnl_rule_free(rule); }
  void operator()(nftnl_set* set) const { nftnl_set_free(set); }
  void operator()(nftnl_set_elem* element) const { nftnl_set_elem_free(element); }
  void operator()(nftnl_obj* object) const { nftnl_obj_free(object); }
  void operator()(nftnl_expr* expression) const { nftnl_expr_free(expression); }
  void operator()(nftnl_udata_buf* userdata) const { nftnl_udata_buf_free(userdata); }
};
using TablePtr = std::unique_ptr<nftnl_table, NftnlDeleter>;
using ChainPtr = std::unique_ptr<nftnl_chain, NftnlDeleter>;
using RulePtr = std::unique_ptr<nftnl_rule, NftnlDeleter>;
using SetPtr = std::unique_ptr<nftnl_set, NftnlDeleter>;
using SetElementPtr = std::unique_ptr<nftnl_set_elem, NftnlDeleter>;
using ObjectPtr = std::unique_ptr<nftnl_obj, NftnlDeleter>;
using UserDataPtr = std::unique_ptr<nftnl_udata_buf, NftnlDeleter>;

// nft_regs numbering: 32-bit registers, the ones concatenations are loaded into.
constexpr std::uint32_t kReg32First = 8;  // NFT_REG32_00
constexpr std::uint32_t kReg1 = 1;        // NFT_REG_1 (128 bits)

// Builds one rule expression by expression, in the register conventions nft itself uses,
// so that `nft list` shows netd's rules as ordinary nft syntax.
class RuleBuilder {
 public:
  RuleBuilder(const std::string& table, const std::string& chain, std::uint32_t family);

  RuleBuilder& MetaLoad(std::uint32_t key, std::uint32_t dreg = kReg1);
  RuleBuilder& Compare(std::uint32_t op, std::span<const std::uint8_t> data,
                       std::uint32_t sreg = kReg1);
  RuleBuilder& PayloadLoad(std::uint32_t base, std::uint32_t offset, std::uint32_t length,
                           std::uint32_t dreg = kReg1);
  RuleBuilder& Bitwise(std::span<const std::uint8_t> mask, std::uint32_t reg = kReg1);
  // reg = (reg & mask) ^ xor: with mask ~bits and xor bits, sets `bits`.
  RuleBuilder& Bitwise(std::span<const std::uint8_t> mask, std::span<const std::uint8_t> xor_bits,
                       std::uint32_t reg = kReg1);
  RuleBuilder& MetaSet(std::uint32_t key, std::uint32_t sreg = kReg1);
  // fib daddr type: the destination's address type (RTN_*) in the local table.
  RuleBuilder& FibDestinationType(std::uint32_t dreg = kReg1);
  RuleBuilder& CtLoad(std::uint32_t key, std::uint32_t dreg = kReg1);
  RuleBuilder& Lookup(const std::string& set, std::uint32_t sreg, bool inverted = false);
  RuleBuilder& VerdictMap(const std::string& map, std::uint32_t sreg = kReg1);
  // A data map lookup: the element's data lands in `dreg` onwards.
  RuleBuilder& MapLookup(const std::string& map, std::uint32_t sreg, std::uint32_t dreg);
  // Destination NAT of IPv4 to the address in `address_reg` and the port in `port_reg`.
  RuleBuilder& DestinationNat(std::uint32_t address_reg, std::uint32_t port_reg);
  RuleBuilder& NamedCounter(const std::string& name);
  RuleBuilder& Limit(std::uint64_t rate_per_second, std::uint32_t burst);
  RuleBuilder& Log(std::uint16_t group, const std::string& prefix);
  RuleBuilder& Masquerade();
  RuleBuilder& Verdict(int verdict, const std::string& chain = {});
  RuleBuilder& Comment(const std::string& text);

  // Shorthands for what nft generates.
  RuleBuilder& InterfaceIs(bool input, const std::string& name, bool equal = true);
  RuleBuilder& NfprotoIs(std::uint8_t family);
  RuleBuilder& L4protoIs(std::uint8_t protocol);

  nftnl_rule* get() { return rule_.get(); }

 private:
  void AddExpression(const char* name, const std::function<void(nftnl_expr*)>& fill);
  RulePtr rule_;
};

}  // namespace netd::firewall
