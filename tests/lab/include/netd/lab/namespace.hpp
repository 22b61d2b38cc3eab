#pragma once

#include <string>
#include <vector>

#include "netd/lab/command.hpp"

namespace netd::lab {

// A named network namespace ("netdt-<pid>-<n>-<tag>", see harness.hpp) with `lo` up, deleted on
// destruction. Not movable: other harness objects keep references to it.
class Namespace {
 public:
  explicit Namespace(std::string_view tag);
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;
  ~Namespace();

  const std::string& name() const { return name_; }

  // Run/Start argv inside the namespace (`ip netns exec`).
  CommandResult Run(const std::vector<std::string>& argv, const RunOptions& options = {}) const;
  CommandResult RunChecked(const std::vector<std::string>& argv,
                           const RunOptions& options = {}) const;
  Process Start(const std::vector<std::string>& argv, const StartOptions& options = {}) const;

  void SetLinkUp(const std::string& ifname) const;
  // cidr like "192.0.2.1/24".
  void AddAddress(const std::string& ifname, const std::string& cidr) const;
  // destination like "default" or "198.51.100.0/24".
  void AddRoute(const std::string& destination, const std::string& gateway) const;
  // True as soon as one `ping -c1 -W1` succeeds; tries `attempts` times, since a fresh path
  // (ARP, a learning switch) may drop the first packets.
  bool Ping(const std::string& address, int attempts = 5) const;

 private:
  std::vector<std::string> InNamespace(const std::vector<std::string>& argv) const;

  std::string name_;
  int registration_slot_ = -1;
};

// While alive, the calling thread is inside `ns` (setns on the thread's network namespace), so
// netlink sockets it opens talk to that namespace's kernel state; the thread's previous
// namespace is restored on destruction. Not for threads that start other threads meanwhile.
class NamespaceScope {
 public:
  explicit NamespaceScope(const Namespace& ns);
  ~NamespaceScope();
  NamespaceScope(const NamespaceScope&) = delete;
  NamespaceScope& operator=(const NamespaceScope&) = delete;

 private:
  int previous_fd_ = -1;
};

// kOff: the OVS userspace datapath forwards packets with the checksum left to offload
// unfilled, so without this TCP and UDP across OVS fail (ICMP still works). kKernelDefault:
// checksum and segmentation offloads as a real NIC has them, for paths without userspace OVS
// whose speed is measured.
enum class TxOffload { kOff, kKernelDefault };

// A veth pair with one end in each namespace, both up, tx checksum offload as asked (off unless
// told). Interface names need only be unique within their own namespace (at most 15
// characters). The pair disappears with either namespace.
void CreateVethPair(const Namespace& a, const std::string& a_ifname, const Namespace& b,
                    const std::string& b_ifname, TxOffload offload = TxOffload::kOff);

}  // namespace netd::lab
