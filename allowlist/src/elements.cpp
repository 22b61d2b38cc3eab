#include "netd/allowlist/elements.hpp"

namespace netd::allowlist {

std::size_t SetChanges::size() const {
  return add.exact.size() + add.ranges.size() + add.bindings.size() + remove.exact.size() +
         remove.ranges.size() + remove.bindings.size();
}

}  // namespace netd::allowlist
