#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netd/daemon/api_types.hpp"
#include "netd/daemon/status_report.hpp"

namespace netd {

// One request matched to its route, with the path's captured segments and the query.
struct ApiCall {
  const ApiRequest& request;
  std::vector<std::string> captures;
  std::map<std::string, std::string, std::less<>> query;
};

// A line of the command table (DESIGN.md section 5), served by capability `C`.
template <class C>
struct RouteOf {
  std::string_view method;
  std::string_view pattern;  // segments in braces capture
  AccessLevel access;
  std::string_view action;  // audit action of a mutation; empty for reads
  std::string_view object;  // audited object, "{}" replaced by the captures in order
  ApiResponse (C::*handle)(const ApiCall&);
};

// What this netd runs, as the control API sees it: a capability reports its part of
// /v1/status and /metrics; one that serves routes also lists them as a static `Routes()`
// returning std::span<const RouteOf<C>>, so that a netd without it can still answer them
// (ControlApi::Refuse).
class Capability {
 public:
  virtual ~Capability() = default;
  virtual void Report(StatusReport& report) const = 0;
};

}  // namespace netd
