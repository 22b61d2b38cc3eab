#include "netd/lab/guard.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "netd/lab/command.hpp"

namespace netd::lab {

std::string MissingKernelTestPrerequisites() {
  std::string missing;
  const auto add = [&missing](std::string_view what) {
    missing += (missing.empty() ? "" : ", ") + std::string(what);
  };
  if (geteuid() != 0) add("root");
  if (!std::filesystem::exists("/dev/net/tun")) add("/dev/net/tun");
  for (const char* tool : {"ip", "ethtool", "ping", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd",
                           "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "dnsmasq", "busybox"}) {
    if (!FindExecutable(tool)) add(tool);
  }
  if (!std::filesystem::exists("/usr/share/openvswitch/vswitch.ovsschema")) {
    add("/usr/share/openvswitch/vswitch.ovsschema");
  }
  return missing;
}

bool RunningInCi() {
  const char* ci = std::getenv("CI");
  return ci && (std::string_view(ci) == "true" || std::string_view(ci) == "1");
}

}  // namespace netd::lab
