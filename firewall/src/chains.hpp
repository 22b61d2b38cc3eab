#pragma once

#include "netd/firewall/packet_filter.hpp"
#include "rule_writer.hpp"

namespace netd::firewall {

// Each appends rules in the order their chain evaluates them. The table builder calls them in
// one fixed order: the kernel gives rules their handles in the order it receives them.

// chains_network.cpp: a network's input_<network> and forward_<network>.
void AddNetworkInputRules(RuleWriter& rules, const TableLayout& layout,
                          const FilteredNetwork& network);
void AddNetworkForwardRules(RuleWriter& rules, const TableLayout& layout,
                            const FilteredNetwork& network);

// chains_guard.cpp: the forward decision before routing (docs/firewall.md, "Failing closed").
void AddNetworkGuardRules(RuleWriter& rules, const TableLayout& layout,
                          const FilteredNetwork& network);
// guard and guard_to_networks.
void AddGuardRules(RuleWriter& rules, const TableLayout& layout);

// chains_base.cpp: the base chains, which judge by interface, and inbound.
void AddOutputRules(RuleWriter& rules, const TableLayout& layout);
void AddInboundRules(RuleWriter& rules, const TableLayout& layout);
void AddPreroutingRules(RuleWriter& rules, const TableLayout& layout);
// input and forward: a network's addresses arrive only through its interface.
void AddSourcePinningRules(RuleWriter& rules, const TableLayout& layout);
// input after its source pinning.
void AddInputRules(RuleWriter& rules, const TableLayout& layout);
// forward after its source pinning.
void AddForwardRules(RuleWriter& rules);
void AddPostroutingRules(RuleWriter& rules, const TableLayout& layout);

}  // namespace netd::firewall
