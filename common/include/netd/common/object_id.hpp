#pragma once

#include <cstddef>
#include <string_view>

namespace netd {

// VM ids and allowlist rule names: 1-64 of A-Z a-z 0-9 . _ -
inline constexpr std::size_t kMaxObjectIdLength = 64;
bool IsValidObjectId(std::string_view id);

}  // namespace netd
