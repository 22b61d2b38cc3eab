#pragma once

#include <libvirt/libvirt.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netd/libvirt/handles.hpp"
#include "netd/libvirt/xml.hpp"

namespace netd::testing {

// A test's own connection to libvirt's test driver (test:///default), acting as an operator or
// as libvirt itself would. The driver's state lives in the test process while a connection to
// it is open: a test that opens this first and closes it last (with every netd client stopped)
// starts from the driver's default (network "default", running domain "test").
class LibvirtTestDriver {
 public:
  LibvirtTestDriver();
  ~LibvirtTestDriver();
  LibvirtTestDriver(const LibvirtTestDriver&) = delete;
  LibvirtTestDriver& operator=(const LibvirtTestDriver&) = delete;

  using Network = libvirt::LibvirtNetwork;
  using Domain = libvirt::LibvirtDomain;

  Network FindNetwork(const std::string& name) const;
  // The network's definition, parsed; nullopt when it is missing, transient or not netd's.
  // (The test driver keeps one definition for both running and persistent.)
  std::optional<libvirt::LibvirtNetworkSpec> Defined(const std::string& name) const;
  bool Active(const std::string& name) const;
  bool Autostart(const std::string& name) const;
  std::string Uuid(const std::string& name) const;
  // Every one of `specs` defined as specified, running and autostarted.
  bool AllAsSpecified(const std::vector<libvirt::LibvirtNetworkSpec>& specs) const;

  // A domain of the test driver with one interface on libvirt network `network`.
  static std::string DomainXml(const std::string& name, const std::string& uuid,
                               const std::string& mac, const std::string& network = "secure");
  // Defines (persistent) and starts it; throws on failure.
  Domain DefineAndStart(const std::string& xml) const;

  virConnectPtr get() const { return connection_; }

 private:
  virConnectPtr connection_;
};

}  // namespace netd::testing
