#pragma once

#include "netd/firewall/packet_filter.hpp"
#include "nft_batch.hpp"

namespace netd::firewall {

inline constexpr const char* kTableName = "ticrypt";

// Appends to `batch` what replaces the table `inet ticrypt` whole: created if absent, deleted,
// and created again with its counters, sets, maps, chains, rules and `elements`. The kernel
// applies it atomically: packets see either the old table or the new one.
void AddTableReplacement(NftBatch& batch, const TableLayout& layout, const TableElements& elements);

// Appends element deletions, then additions.
void AddElementChanges(NftBatch& batch, const ElementChanges& changes);

}  // namespace netd::firewall
