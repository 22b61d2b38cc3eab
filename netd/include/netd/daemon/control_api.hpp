#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "netd/daemon/api_types.hpp"
#include "netd/daemon/audit.hpp"
#include "netd/daemon/capability.hpp"

namespace netd {

// Counts of what the API answered, for /metrics.
class ApiMetrics {
 public:
  void CountRequest(std::string_view route, std::string_view method, int status);
  void CountRejectedConnection(std::string_view reason);
  void Report(StatusReport& report) const;

 private:
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, std::uint64_t> rejected_connections_;
};

// The command table of the control API (DESIGN.md section 5): it matches a request to a route,
// checks the caller's access, audits refused mutations and maps failures to answers. The
// capabilities this netd runs bring the routes and the parts of /v1/status and /metrics;
// the daemon composes them (docs/architecture.md, "Capabilities").
class ControlApi {
 public:
  ControlApi(AuditChain& audit, ApiMetrics& metrics);

  // Serves `capability`'s routes and adds its report to /v1/status and /metrics. Reports are
  // rendered in the order of the calls.
  template <class C>
  void Serve(C& capability) {
    if constexpr (requires { C::Routes(); }) {
      for (const auto& route : C::Routes()) {
        AddRoute(route, [&capability, handle = route.handle](const ApiCall& call) {
          return (capability.*handle)(call);
        });
      }
    }
    reports_.push_back(&capability);
  }
  // Answers the routes of a capability this netd does not run with `refusal`.
  template <class C>
  void Refuse(const ApiError& refusal) {
    for (const auto& route : C::Routes()) {
      AddRoute(route, [refusal](const ApiCall&) -> ApiResponse { throw refusal; });
    }
  }

  ApiResponse Handle(const ApiRequest& request);

 private:
  struct Route {
    std::string_view method;
    std::string_view pattern;
    AccessLevel access;
    std::string_view action;
    std::string_view object;
    std::function<ApiResponse(const ApiCall&)> handler;
  };
  template <class C>
  void AddRoute(const RouteOf<C>& route, std::function<ApiResponse(const ApiCall&)> handler) {
    routes_.push_back({route.method, route.pattern, route.access, route.action, route.object,
                       std::move(handler)});
  }
  StatusReport Collect() const;

  AuditChain& audit_;
  ApiMetrics& metrics_;
  std::vector<Route> routes_;
  std::vector<const Capability*> reports_;
};

}  // namespace netd
