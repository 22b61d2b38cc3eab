// libFuzzer target for the libvirt XML netd reads: domain XML (a VM's owner writes most of it)
// and network XML. A network netd wrote reads back as what it wrote.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "netd/libvirt/xml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  // A domain's interfaces: what matters is that reading never fails (the sanitizers judge it).
  netd::libvirt::ParseDomainInterfaces(xml);
  auto printable = [](const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
  };
  auto spec = netd::libvirt::ParseLibvirtNetworkXml(xml);
  // Names netd writes come from its config: printable, without spaces (XML trims none).
  if (spec && printable(spec->name) && printable(spec->bridge)) {
    auto written = netd::libvirt::LibvirtNetworkXml(*spec, "2a8f2d36-3c1e-4d6c-9b1a-6c1d0e5b7f10");
    auto again = netd::libvirt::ParseLibvirtNetworkXml(written);
    if (!again || *again != *spec) std::abort();
  }
  return 0;
}
