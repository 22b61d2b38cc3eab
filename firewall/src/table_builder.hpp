#pragma once

#include "netd/firewall/packet_filter.hpp"
#include "nft_batch.hpp"

namespace netd::firewall {

// NFT_MSG_DESTROYTABLE (Linux 6.3): deletes a table if it exists. Debian 12's headers lack it.
inline constexpr std::uint16_t kMsgDestroyTable = 26;
// NFT_TABLE_F_OWNER and NFT_TABLE_F_PERSIST (Linux 6.9; the latter absent from Debian 12's
// headers).
inline constexpr std::uint32_t kTableFlagOwner = 0x2;
inline constexpr std::uint32_t kTableFlagPersist = 0x4;

// How a whole-table transaction gets rid of the table it replaces.
enum class TableRemoval {
  // Created if absent, then deleted: any kernel, but not for a table flagged persist (whose
  // flag cannot be changed by creating it again).
  kCreateThenDelete,
  // NFT_MSG_DESTROYTABLE: whatever the old table's flags; kernels that know persist know it.
  kDestroy,
};

// Appends to `batch` what replaces the table `inet ticrypt` whole: the old one removed, and
// the table created again with its flags, counters, sets, maps, chains, rules and `elements`.
// The kernel applies it atomically: packets see either the old table or the new one.
void AddTableReplacement(NftBatch& batch, const TableLayout& layout, const TableElements& elements,
                         TableRemoval removal);

// A scratch table `inet <name>` with flags owner,persist, destroyed in the same transaction:
// the kernel refuses it with EOPNOTSUPP where it lacks the flags.
void AddOwnedTableProbe(NftBatch& batch, const char* name);

}  // namespace netd::firewall
