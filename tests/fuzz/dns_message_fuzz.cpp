// libFuzzer target for the DNS wire code that reads what VMs and upstream servers send.
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
  }
  auto summary = netd::dns::ParseResponse(message, "a.example");
  if (auto stripped = netd::dns::WithoutAaaa(message)) {
    auto again = netd::dns::ParseResponse(*stripped, "a.example");
    // Stripping keeps a message readable, removes every AAAA and keeps the addresses.
    if (summary &&
        (!again || again->has_aaaa || again->addresses.size() != summary->addresses.size())) {
      std::abort();
    }
  }
  return 0;
}
