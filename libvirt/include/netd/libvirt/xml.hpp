#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The XML netd writes to libvirt and reads from it: pure functions, no connection.
namespace netd::libvirt {

// A libvirt network through which domains attach to one of netd's bridges by network name:
// forward mode bridge, virtualport openvswitch, and a default portgroup that carries the VLAN
// as the ports' access tag where the bridge's uplink is a trunk.
struct LibvirtNetworkSpec {
  std::string name;
  std::string bridge;
  std::uint16_t vlan = 0;
  bool tag_ports = false;  // the portgroup tags VM ports with `vlan` (trunk uplinks)

  friend bool operator==(const LibvirtNetworkSpec&, const LibvirtNetworkSpec&) = default;
};

// The network's XML for virNetworkDefineXML; `uuid` keeps an existing network's identity.
std::string LibvirtNetworkXml(const LibvirtNetworkSpec& spec, std::string_view uuid = {});
// What a network's XML says about the parts netd sets; nullopt unless it is a bridge network
// with an openvswitch virtualport and a default portgroup (or it does not parse).
std::optional<LibvirtNetworkSpec> ParseLibvirtNetworkXml(std::string_view xml);

// A domain's interface on a libvirt network or bridge, from its XML.
struct DomainInterface {
  std::string network;  // <source network=...>; empty for type='bridge'
  std::string bridge;   // <source bridge=...>, when libvirt shows it
  std::string mac;
  std::string target;  // the tap (vnetN) while the domain runs
  friend bool operator==(const DomainInterface&, const DomainInterface&) = default;
};
// The interfaces of a domain's XML; empty when it does not parse.
std::vector<DomainInterface> ParseDomainInterfaces(std::string_view xml);

}  // namespace netd::libvirt
