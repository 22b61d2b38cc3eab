#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netd::allowlist {

// DNS query types by number and mnemonic: the ones a rule's `qtypes` may name, and the others
// netd names in its logs. Here rather than in dns/ because the rules' codec reads and writes
// them, and dns/ depends on the allowlist, not the reverse.

constexpr std::uint16_t kQtypeA = 1;
constexpr std::uint16_t kQtypeAaaa = 28;

// "A", "AAAA", "TXT", ... for the types netd names; "TYPE<n>" for the others.
std::string QtypeName(std::uint16_t qtype);
// The types an allowlist rule may let through to the upstream (`qtypes`), by mnemonic in any
// case; nullopt for any other (ANY, NULL, and types netd does not name).
std::optional<std::uint16_t> ForwardableQtype(std::string_view name);
// Their mnemonics, sorted and joined by ", ", for error messages.
std::string_view ForwardableQtypeNames();

}  // namespace netd::allowlist
