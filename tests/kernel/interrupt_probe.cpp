// A stand-in for a kernel test that is interrupted midway: it builds namespaces, a private OVS,
// dnsmasq and a plain process, prints what it created, and waits for a signal. The harness's
// signal handlers must then remove all of it (checked by lab_harness_test).
#include <unistd.h>

#include <exception>
#include <iostream>

#include "netd/lab/dnsmasq.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"

int main() {
  using namespace netd::lab;
  try {
    Namespace gateway("probe-gw");
    OvsInstance ovs(gateway);
    ovs.AddBridge("br0");
    Namespace vm("probe-vm");
    ovs.AttachNamespace("br0", vm, "eth0", "port-vm");
    Dnsmasq dnsmasq(gateway, "port=0");
    Process sleeper = vm.Start({"sleep", "600"});
    TempDir scratch("probe");

    std::cout << "namespace " << gateway.name() << "\nnamespace " << vm.name() << "\ndir "
              << ovs.dir().string() << "\ndir " << dnsmasq.dir().string() << "\ndir "
              << scratch.path().string() << "\npid " << ovs.ovsdb_server_pid() << "\npid "
              << ovs.vswitchd_pid() << "\npid " << dnsmasq.pid() << "\npid " << sleeper.pid()
              << "\nready" << std::endl;
    for (;;) pause();
  } catch (const std::exception& error) {
    std::cerr << "interrupt_probe: " << error.what() << "\n";
    return 1;
  }
}
