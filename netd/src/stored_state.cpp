#include "stored_state.hpp"

#include <fmt/format.h>

#include <map>
#include <stdexcept>

#include "netd/daemon/gateway_options.hpp"

namespace netd {

firewall::GatewayFirewall::StoredState LoadStoredState(Store& store, const Config& config) {
  firewall::GatewayFirewall::StoredState stored;
  for (const auto& binding : store.LoadBindings()) stored.bindings.push_back(BoundVmOf(binding));
  auto codec_options = RuleCodecOptionsOf(config);
  for (const auto& text : store.LoadAllowlistRules()) {
    stored.rules.push_back(allowlist::AllowlistRuleFromStored(text, codec_options));
  }
  std::map<std::string, Ipv4Address, std::less<>> addresses;
  for (const auto& binding : stored.bindings) addresses.emplace(binding.vm, binding.ip);
  for (auto forward : store.LoadForwards()) {
    auto address = addresses.find(forward.vm);
    if (address == addresses.end()) {
      throw std::runtime_error(
          fmt::format("the state store {} holds forward {} to VM {}, which is not bound",
                      (config.state_dir / "netd.db").string(), forward.id, forward.vm));
    }
    forward.vm_ip = address->second;
    stored.forwards.push_back(std::move(forward));
  }
  return stored;
}

}  // namespace netd
