#include "netd/lab/namespace.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "netd/lab/harness.hpp"
#include "registry.hpp"

namespace netd::lab {

using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxIfnameLength = 15;

void DisableTxChecksumOffload(const Namespace& ns, const std::string& ifname) {
  ns.RunChecked({"ethtool", "-K", ifname, "tx", "off"});
}

void RequireValidIfname(const std::string& ifname) {
  if (ifname.empty() || ifname.size() > kMaxIfnameLength) {
    throw std::invalid_argument("interface name must be 1-15 characters: " + ifname);
  }
}

}  // namespace

Namespace::Namespace(std::string_view tag) : name_(UniqueName(tag)) {
  RunCommandChecked({"ip", "netns", "add", name_});
  try {
    registration_slot_ = detail::RegisterResource(detail::ResourceKind::kNamespace, 0, name_);
    RunCommandChecked({"ip", "-n", name_, "link", "set", "lo", "up"});
  } catch (...) {
    detail::DeleteNamespaceMount(name_.c_str());
    detail::ReleaseResource(registration_slot_);
    throw;
  }
}

Namespace::~Namespace() {
  detail::DeleteNamespaceMount(name_.c_str());
  detail::ReleaseResource(registration_slot_);
}

std::vector<std::string> Namespace::InNamespace(const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

CommandResult Namespace::Run(const std::vector<std::string>& argv,
                             const RunOptions& options) const {
  return lab::RunCommand(InNamespace(argv), options);
}

CommandResult Namespace::RunChecked(const std::vector<std::string>& argv,
                                    const RunOptions& options) const {
  return lab::RunCommandChecked(InNamespace(argv), options);
}

Process Namespace::Start(const std::vector<std::string>& argv, const StartOptions& options) const {
  return lab::StartProcess(InNamespace(argv), options);
}

NamespaceScope::NamespaceScope(const Namespace& ns) {
  previous_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (previous_fd_ < 0) {
    throw std::runtime_error(std::string("cannot open this thread's network namespace: ") +
                             std::strerror(errno));
  }
  auto path = "/run/netns/" + ns.name();
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0 || setns(target, CLONE_NEWNET) != 0) {
    auto reason = std::string(std::strerror(errno));
    if (target >= 0) close(target);
    close(previous_fd_);
    throw std::runtime_error("cannot enter network namespace " + ns.name() + ": " + reason);
  }
  close(target);
}

NamespaceScope::~NamespaceScope() {
  if (setns(previous_fd_, CLONE_NEWNET) != 0) std::abort();  // the thread would stay inside
  close(previous_fd_);
}

void Namespace::SetLinkUp(const std::string& ifname) const {
  lab::RunCommandChecked({"ip", "-n", name_, "link", "set", ifname, "up"});
}

void Namespace::AddAddress(const std::string& ifname, const std::string& cidr) const {
  lab::RunCommandChecked({"ip", "-n", name_, "address", "add", cidr, "dev", ifname});
}

void Namespace::AddRoute(const std::string& destination, const std::string& gateway) const {
  lab::RunCommandChecked({"ip", "-n", name_, "route", "add", destination, "via", gateway});
}

bool Namespace::Ping(const std::string& address, int attempts) const {
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(100ms);
    if (Run({"ping", "-c1", "-W1", "-q", address}).ok()) return true;
  }
  return false;
}

void CreateVethPair(const Namespace& a, const std::string& a_ifname, const Namespace& b,
                    const std::string& b_ifname, TxOffload offload) {
  RequireValidIfname(a_ifname);
  RequireValidIfname(b_ifname);
  // Created directly inside both namespaces, so the names never collide with the host's.
  RunCommandChecked({"ip", "link", "add", a_ifname, "netns", a.name(), "type", "veth", "peer",
                     "name", b_ifname, "netns", b.name()});
  for (const auto& [ns, ifname] : {std::pair{&a, a_ifname}, std::pair{&b, b_ifname}}) {
    if (offload == TxOffload::kOff) DisableTxChecksumOffload(*ns, ifname);
    ns->SetLinkUp(ifname);
  }
}

}  // namespace netd::lab
