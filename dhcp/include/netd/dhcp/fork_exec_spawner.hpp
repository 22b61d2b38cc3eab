#pragma once

#include <boost/asio/io_context.hpp>

#include "netd/dhcp/process_spawner.hpp"

namespace netd::dhcp {

// Children through fork and exec, each watched through a pidfd on the loop.
class ForkExecSpawner final : public ProcessSpawner {
 public:
  explicit ForkExecSpawner(boost::asio::io_context& io) : io_(io) {}

  ProcessExit Run(const ProcessCommand& command) override;
  std::unique_ptr<ChildProcess> Spawn(const ProcessCommand& command, ExitHandler on_exit) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace netd::dhcp
