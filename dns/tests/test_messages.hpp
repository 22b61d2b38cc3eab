#pragma once

// DNS messages written out byte by byte for the tests of dns/, independent of the code under
// test.
#include <cstdint>
#include <string>
#include <vector>

#include "netd/dns/message.hpp"

namespace netd::dns::test_messages {

using Bytes = std::vector<std::uint8_t>;

inline void Put16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

inline void PutName(Bytes& out, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
}

inline Bytes Header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an,
                    std::uint16_t ns, std::uint16_t ar) {
  Bytes out;
  for (auto value : {id, flags, qd, an, ns, ar}) Put16(out, value);
  return out;
}

inline Bytes Query(const std::string& name, std::uint16_t qtype, bool edns = false) {
  auto out = Header(0x1234, 0x0100, 1, 0, 0, edns ? 1 : 0);
  PutName(out, name);
  Put16(out, qtype);
  Put16(out, 1);
  if (edns) {
    out.push_back(0);
    Put16(out, type::kOpt);
    Put16(out, 4096);
    Put16(out, 0);
    Put16(out, 0);
    Put16(out, 0);
  }
  return out;
}

}  // namespace netd::dns::test_messages
