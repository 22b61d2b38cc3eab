// libFuzzer target for the DNS wire code that reads what VMs and upstream servers send.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "netd/dns/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> message(data, size);
  auto parsed = netd::dns::ParseQuery(message);
  if (parsed.query) {
    auto answer = netd::dns::BuildResponse(*parsed.query, netd::dns::Rcode::kRefused);
    // An answer netd builds must read back as a response to the same question.
    if (!netd::dns::ParseResponse(answer, parsed.query->name)) std::abort();
    // What goes upstream asks the same question, and its answer takes the VM's question back.
    auto upstream = netd::dns::BuildUpstreamQuery(*parsed.query);
    auto forwarded = netd::dns::ParseQuery(upstream);
    if (!forwarded.query || forwarded.query->name != parsed.query->name ||
        forwarded.query->type != parsed.query->type) {
      std::abort();
    }
    upstream[2] |= 0x80;
    if (!netd::dns::RestoreQuestion(upstream, *parsed.query)) std::abort();
  }
  auto summary = netd::dns::ParseResponse(message, "a.example");
  if (auto stripped = netd::dns::Filtered(message)) {
    auto again = netd::dns::ParseResponse(*stripped, "a.example");
    // Stripping keeps a message readable, removes every AAAA and keeps the addresses.
    if (summary &&
        (!again || again->has_aaaa || again->addresses.size() != summary->addresses.size())) {
      std::abort();
    }
  }
  if (summary && !summary->addresses.empty()) {
    // Refusing an address removes exactly its records.
    netd::Ipv4Address refused[] = {summary->addresses[0].address};
    if (auto filtered = netd::dns::Filtered(message, refused)) {
      auto again = netd::dns::ParseResponse(*filtered, "a.example");
      auto kept = std::count_if(summary->addresses.begin(), summary->addresses.end(),
                                [&](const auto& record) { return record.address != refused[0]; });
      if (!again || static_cast<std::ptrdiff_t>(again->addresses.size()) != kept) std::abort();
    }
  }
  return 0;
}
