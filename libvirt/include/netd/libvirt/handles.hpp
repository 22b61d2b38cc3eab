#pragma once

#include <libvirt/libvirt.h>

#include <cstdlib>
#include <memory>

namespace netd::libvirt {

// Owning handles of what libvirt's calls return.
struct LibvirtNetworkFree {
  void operator()(virNetworkPtr network) const { virNetworkFree(network); }
};
using LibvirtNetwork = std::unique_ptr<virNetwork, LibvirtNetworkFree>;

struct LibvirtDomainFree {
  void operator()(virDomainPtr domain) const { virDomainFree(domain); }
};
using LibvirtDomain = std::unique_ptr<virDomain, LibvirtDomainFree>;

// Text libvirt allocated (XML descriptions): the caller frees it.
struct LibvirtTextFree {
  void operator()(char* text) const { std::free(text); }
};
using LibvirtText = std::unique_ptr<char, LibvirtTextFree>;

}  // namespace netd::libvirt
