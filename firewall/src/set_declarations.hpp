#pragma once

#include "nft_batch.hpp"

namespace netd::firewall {

// Declares the table's sets and maps, empty: key and data types, lengths and flags, and the
// user data with which `nft list` prints them as nft itself declares them.
void AddSetDeclarations(NftBatch& batch);

}  // namespace netd::firewall
