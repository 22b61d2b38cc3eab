#include "netd/testing/recording_packet_filter.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>

namespace netd::testing {
namespace {

template <typename T>
void Remove(std::set<T>& held, const std::vector<T>& removed) {
  for (const auto& element : removed) {
    if (!held.contains(element)) throw firewall::NftError("an element", ENOENT, "");
  }
  for (const auto& element : removed) held.erase(element);
}

}  // namespace

RecordingPacketFilter::RecordingPacketFilter()
    : foreign_changes_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (foreign_changes_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

RecordingPacketFilter::~RecordingPacketFilter() {
  close(foreign_changes_);
}

void RecordingPacketFilter::ChangeFromOutside() {
  std::uint64_t one = 1;
  if (write(foreign_changes_, &one, sizeof(one)) != sizeof(one)) {
    throw std::system_error(errno, std::generic_category(), "eventfd write");
  }
}

std::size_t RecordingPacketFilter::CutForwardFlows(Ipv4Address client, std::uint16_t listen_port) {
  forward_cuts.emplace_back(client, listen_port);
  return 0;
}

bool RecordingPacketFilter::TakeForeignChanges() {
  std::uint64_t count = 0;
  return read(foreign_changes_, &count, sizeof(count)) == sizeof(count) && count > 0;
}

void RecordingPacketFilter::MaybeRefuse(const std::string& what) {
  if (refuse_next_) {
    refuse_next_ = false;
    throw firewall::NftError(what, EINVAL, "refused by the test");
  }
}

void RecordingPacketFilter::ApplyTable(const firewall::TableLayout& layout,
                                       const firewall::TableElements& elements) {
  MaybeRefuse("table inet ticrypt");
  if (layout.protection == firewall::TableProtection::kOwned && !kernel_has_owned_tables) {
    throw firewall::NftError("table inet ticrypt", EOPNOTSUPP, "");
  }
  protection = layout.protection;
  exact = {elements.exact.begin(), elements.exact.end()};
  ranges = {elements.ranges.begin(), elements.ranges.end()};
  bindings = {elements.bindings.begin(), elements.bindings.end()};
  forwards.clear();
  for (const auto& forward : elements.forwards) forwards[ForwardKey(forward)] = forward;
  ++applies;
}

void RecordingPacketFilter::Update(const firewall::ElementChanges& changes) {
  MaybeRefuse("elements of set allow4");
  auto saved_exact = exact;
  auto saved_ranges = ranges;
  auto saved_bindings = bindings;
  auto saved_forwards = forwards;
  try {
    Remove(exact, changes.remove.exact);
    Remove(ranges, changes.remove.ranges);
    Remove(bindings, changes.remove.bindings);
    for (const auto& forward : changes.remove.forwards) {
      if (forwards.erase(ForwardKey(forward)) == 0) {
        throw firewall::NftError("an element of map fwd4", ENOENT, "");
      }
    }
  } catch (...) {
    exact = saved_exact;
    ranges = saved_ranges;
    bindings = saved_bindings;
    forwards = saved_forwards;
    throw;
  }
  exact.insert(changes.add.exact.begin(), changes.add.exact.end());
  ranges.insert(changes.add.ranges.begin(), changes.add.ranges.end());
  bindings.insert(changes.add.bindings.begin(), changes.add.bindings.end());
  for (const auto& forward : changes.add.forwards) forwards[ForwardKey(forward)] = forward;
  ++updates;
}

std::size_t RecordingPacketFilter::CutFlows(
    const std::set<Ipv4Address>& vms,
    const std::function<bool(const allowlist::FlowTuple&)>& still_allowed) {
  std::size_t cut = 0;
  for (auto it = flows.begin(); it != flows.end();) {
    auto [source, destination, protocol, port] = *it;
    allowlist::FlowTuple flow{Ipv4Address(source), Ipv4Address(destination),
                              static_cast<std::uint8_t>(protocol),
                              static_cast<std::uint16_t>(port)};
    if (vms.contains(flow.source) && !still_allowed(flow)) {
      it = flows.erase(it);
      ++cut;
    } else {
      ++it;
    }
  }
  return cut;
}

}  // namespace netd::testing
