#pragma once

#include <optional>
#include <string_view>

namespace netd::ovs {

// How a bridge reaches the physical network: through a VLAN interface the host already has
// (e.g. bond0.1081, added as an access port of the VLAN, so it gets untagged frames), or through a
// trunk where OVS tags the VLAN itself (VM ports tag=<vlan>, uplink trunks=<vlan>).
enum class UplinkMode { kVlanInterface, kTrunk };

std::optional<UplinkMode> ParseUplinkMode(std::string_view text);
std::string_view ToString(UplinkMode mode);

// "system" is the kernel datapath used in production; "netdev" is the userspace datapath
// used where there is no openvswitch kernel module (tests, the demo).
bool IsValidDatapathType(std::string_view text);

}  // namespace netd::ovs
