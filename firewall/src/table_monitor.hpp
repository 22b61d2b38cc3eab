#pragma once

#include <libmnl/libmnl.h>

#include <cstdint>
#include <memory>
#include <string>

namespace netd::firewall {

// Listens to the kernel's nf_tables change events (NFNLGRP_NFTABLES) for one table. netd's own
// commits are not heard: the owner pauses the subscription around them.
class TableMonitor {
 public:
  TableMonitor(std::uint8_t family, std::string table);

  int fd() const;
  void Pause();
  void Resume();

  // Reads every queued event without blocking; true when one touched the table or events were
  // lost (the socket overflowed), so the table may differ from what netd applied.
  bool Drain();

 private:
  void SetMembership(int option);

  std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> socket_{nullptr, &mnl_socket_close};
  std::uint8_t family_;
  std::string table_;
};

}  // namespace netd::firewall
