#include "netd/common/object_id.hpp"

#include <algorithm>

namespace netd {

bool IsValidObjectId(std::string_view id) {
  if (id.empty() || id.size() > kMaxObjectIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace netd
