#pragma once

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netd/dhcp/process_spawner.hpp"

namespace netd::dhcp::testing {

// Children that are records: a test ends them and reads the signals they were sent.
class FakeProcessSpawner final : public ProcessSpawner {
 public:
  struct Child {
    ProcessCommand command;
    int pid = 0;
    std::vector<int> signals;  // sent through the handle
    bool running = true;
    bool ended_by_owner = false;  // its handle was destroyed while it ran
    ExitHandler on_exit;
  };

  // The next Run exits 1 after writing `words` to its output, as a refusing `dnsmasq --test`.
  void FailNextRun(std::string words) { next_run_failure_ = std::move(words); }

  ProcessExit Run(const ProcessCommand& command) override {
    runs.push_back(command);
    if (!next_run_failure_) return {0, 0};
    std::ofstream(command.output, std::ios::app) << *next_run_failure_ << '\n';
    next_run_failure_.reset();
    return {1, 0};
  }

  std::unique_ptr<ChildProcess> Spawn(const ProcessCommand& command, ExitHandler on_exit) override {
    auto child = std::make_shared<Child>();
    child->command = command;
    child->pid = 1000 + static_cast<int>(children.size());
    child->on_exit = std::move(on_exit);
    children.push_back(child);
    return std::make_unique<Handle>(child);
  }

  // The last child ends by itself, as a dnsmasq that crashed or was killed from outside.
  void EndLast(ProcessExit exit) {
    auto child = children.back();
    child->running = false;
    auto on_exit = std::move(child->on_exit);
    on_exit(exit);
  }

  std::vector<ProcessCommand> runs;
  std::vector<std::shared_ptr<Child>> children;

 private:
  class Handle final : public ChildProcess {
   public:
    explicit Handle(std::shared_ptr<Child> child) : child_(std::move(child)) {}
    ~Handle() override {
      if (!child_->running) return;
      child_->running = false;
      child_->ended_by_owner = true;
    }
    int pid() const override { return child_->pid; }
    bool Signal(int signal) override {
      if (!child_->running) return false;
      child_->signals.push_back(signal);
      return true;
    }

   private:
    std::shared_ptr<Child> child_;
  };

  std::optional<std::string> next_run_failure_;
};

}  // namespace netd::dhcp::testing
