#include "table_builder.hpp"

#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netlink.h>

#include "chains.hpp"
#include "nft_objects.hpp"
#include "rule_writer.hpp"
#include "set_declarations.hpp"
#include "set_elements.hpp"
#include "table_objects.hpp"

namespace netd::firewall {
namespace {

void AddTableMessage(NftBatch& batch, std::uint16_t type, std::uint16_t flags,
                     std::uint32_t table_flags = 0, const char* name = kTableName) {
  batch.Add(fmt::format("table inet {}", name), [&](char* buffer, std::uint32_t seq) {
    TablePtr table(nftnl_table_alloc());
    nftnl_table_set_u32(table.get(), NFTNL_TABLE_FAMILY, kFamily);
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, name);
    if (type == NFT_MSG_NEWTABLE) nftnl_table_set_u32(table.get(), NFTNL_TABLE_FLAGS, table_flags);
    auto* header = nftnl_nlmsg_build_hdr(buffer, type, kFamily, flags, seq);
    nftnl_table_nlmsg_build_payload(header, table.get());
    return header;
  });
}

void AddCounter(NftBatch& batch, const char* name) {
  batch.Add(fmt::format("counter {}", name), [&](char* buffer, std::uint32_t seq) {
    ObjectPtr object(nftnl_obj_alloc());
    nftnl_obj_set_u32(object.get(), NFTNL_OBJ_FAMILY, kFamily);
    nftnl_obj_set_str(object.get(), NFTNL_OBJ_TABLE, kTableName);
    nftnl_obj_set_str(object.get(), NFTNL_OBJ_NAME, name);
    nftnl_obj_set_u32(object.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWOBJ, kFamily, NLM_F_CREATE, seq);
    nftnl_obj_nlmsg_build_payload(header, object.get());
    return header;
  });
}

// A regular chain without `type`; with it, a base chain on `hook` with policy accept.
void AddChain(NftBatch& batch, const std::string& name, const char* type = nullptr,
              std::uint32_t hook = 0, int priority = 0) {
  batch.Add(fmt::format("chain {}", name), [&](char* buffer, std::uint32_t seq) {
    ChainPtr chain(nftnl_chain_alloc());
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, kFamily);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, kTableName);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
    if (type) {
      nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, type);
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, hook);
      nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, priority);
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    auto* header = nftnl_nlmsg_build_hdr(buffer, NFT_MSG_NEWCHAIN, kFamily, NLM_F_CREATE, seq);
    nftnl_chain_nlmsg_build_payload(header, chain.get());
    return header;
  });
}

// The old table removed, and the new one created with its flags.
void AddTableMessages(NftBatch& batch, TableProtection protection, TableRemoval removal) {
  if (removal == TableRemoval::kDestroy) {
    AddTableMessage(batch, kMsgDestroyTable, 0);
  } else {
    AddTableMessage(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE);
    AddTableMessage(batch, NFT_MSG_DELTABLE, 0);
  }
  const std::uint32_t table_flags =
      protection == TableProtection::kOwned ? kTableFlagOwner | kTableFlagPersist : 0;
  AddTableMessage(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table_flags);
}

void AddChainDeclarations(NftBatch& batch, const TableLayout& layout) {
  for (const auto& network : layout.networks) {
    AddChain(batch, InputChain(network));
    AddChain(batch, ForwardChain(network));
    AddChain(batch, GuardChain(network));
  }
  AddChain(batch, kChainInbound);
  AddChain(batch, kChainGuardToNetworks);
  AddChain(batch, "prerouting", "nat", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST);
  // After the forwards' DNAT, so that it sees the VM a forward goes to.
  AddChain(batch, kChainGuard, "filter", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST + 10);
  AddChain(batch, "input", "filter", NF_INET_LOCAL_IN, NF_IP_PRI_FILTER);
  AddChain(batch, "forward", "filter", NF_INET_FORWARD, NF_IP_PRI_FILTER);
  AddChain(batch, "output", "filter", NF_INET_LOCAL_OUT, NF_IP_PRI_FILTER);
  AddChain(batch, "postrouting", "nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);
}

void AddRules(NftBatch& batch, const TableLayout& layout) {
  RuleWriter rules(batch);
  for (const auto& network : layout.networks) {
    AddNetworkInputRules(rules, layout, network);
    AddNetworkForwardRules(rules, layout, network);
    AddNetworkGuardRules(rules, layout, network);
  }
  AddGuardRules(rules, layout);
  AddOutputRules(rules, layout);
  AddInboundRules(rules, layout);
  AddPreroutingRules(rules, layout);
  AddSourcePinningRules(rules, layout);
  AddInputRules(rules, layout);
  AddForwardRules(rules);
  AddPostroutingRules(rules, layout);
}

}  // namespace

void AddTableReplacement(NftBatch& batch, const TableLayout& layout, const TableElements& elements,
                         TableRemoval removal) {
  AddTableMessages(batch, layout.protection, removal);
  for (const char* counter : kCounters) AddCounter(batch, counter);
  AddSetDeclarations(batch);
  AddChainDeclarations(batch, layout);
  AddNetworkMapElements(batch, layout.networks);
  AddElements(batch, ElementOperation::kAdd, elements);
  AddRules(batch, layout);
}

void AddOwnedTableProbe(NftBatch& batch, const char* name) {
  AddTableMessage(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, kTableFlagOwner | kTableFlagPersist, name);
  AddTableMessage(batch, kMsgDestroyTable, 0, 0, name);
}

}  // namespace netd::firewall
