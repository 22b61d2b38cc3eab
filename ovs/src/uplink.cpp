#include "netd/ovs/uplink.hpp"

namespace netd::ovs {

std::optional<UplinkMode> ParseUplinkMode(std::string_view text) {
  if (text == "vlan-interface") return UplinkMode::kVlanInterface;
  if (text == "trunk") return UplinkMode::kTrunk;
  return std::nullopt;
}

std::string_view ToString(UplinkMode mode) {
  return mode == UplinkMode::kTrunk ? "trunk" : "vlan-interface";
}

bool IsValidDatapathType(std::string_view text) {
  return text == "system" || text == "netdev";
}

}  // namespace netd::ovs
