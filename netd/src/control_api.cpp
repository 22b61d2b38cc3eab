#include "netd/daemon/control_api.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api_support.hpp"
#include "netd/daemon/store.hpp"
#include "netd/firewall/packet_filter.hpp"

namespace netd {

using nlohmann::json;

std::string_view ToString(AccessLevel level) {
  switch (level) {
    case AccessLevel::kAdmin:
      return "admin";
    case AccessLevel::kService:
      return "service";
    case AccessLevel::kNone:
      break;
  }
  return "none";
}

ApiResponse ErrorResponse(const ApiError& error) {
  json detail = {{"code", error.code}, {"message", error.message}};
  if (!error.field.empty()) detail["field"] = error.field;
  return JsonResponse(error.status, {{"error", detail}});
}

void ApiMetrics::CountRequest(std::string_view route, std::string_view method, int status) {
  ++requests_[{std::string(route), std::string(method), status}];
}

void ApiMetrics::CountRejectedConnection(std::string_view reason) {
  ++rejected_connections_[std::string(reason)];
}

void ApiMetrics::Report(StatusReport& report) const {
  static constexpr Metric kRequests{"netd_api_requests_total", MetricType::kCounter,
                                    "Control API requests by route, method and status code."};
  static constexpr Metric kRejected{"netd_api_connections_rejected_total", MetricType::kCounter,
                                    "Connections closed before a request was served, by reason."};
  report.Declare(kRequests);
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    report.Sample(kRequests, count,
                  {{"route", route}, {"method", method}, {"code", std::to_string(status)}});
  }
  report.Declare(kRejected);
  for (const auto& [reason, count] : rejected_connections_) {
    report.Sample(kRejected, count, {{"reason", reason}});
  }
}

ControlApi::ControlApi(AuditChain& audit, ApiMetrics& metrics) : audit_(audit), metrics_(metrics) {
  routes_.push_back({"GET", "/v1/status", AccessLevel::kService, "", "",
                     [this](const ApiCall&) { return JsonResponse(200, Collect().status()); }});
  routes_.push_back({"GET", "/metrics", AccessLevel::kService, "", "", [this](const ApiCall&) {
                       return ApiResponse{200, Collect().Prometheus(), "text/plain; version=0.0.4"};
                     }});
}

StatusReport ControlApi::Collect() const {
  StatusReport report;
  // The sections of capabilities this netd may not run stay in the status, as null (or zero
  // for drift), so that clients can rely on the keys.
  for (const auto* section :
       {"/firewall", "/dhcp", "/dns", "/groups", "/host", "/policy", "/last_reconcile"}) {
    report.Status(section, nullptr);
  }
  report.Status("/drift", {{"detected", 0}, {"repairs", 0}, {"repair_failures", 0}});
  metrics_.Report(report);
  for (const auto* capability : reports_) capability->Report(report);
  return report;
}

ApiResponse ControlApi::Handle(const ApiRequest& request) {
  std::string_view target = request.target;
  auto question = target.find('?');
  auto path = target.substr(0, question);

  const Route* matched = nullptr;
  bool path_known = false;
  std::vector<std::string> captures;
  auto segments = Split(path, '/');
  for (const auto& route : routes_) {
    auto pattern = Split(route.pattern, '/');
    if (pattern.size() != segments.size()) continue;
    std::vector<std::string> values;
    bool match = true;
    for (std::size_t i = 0; match && i < pattern.size(); ++i) {
      if (pattern[i].starts_with('{')) {
        auto decoded = PercentDecode(segments[i]);
        match = decoded.has_value() && !segments[i].empty();
        if (match) values.push_back(*decoded);
      } else {
        match = pattern[i] == segments[i];
      }
    }
    if (!match) continue;
    path_known = true;
    if (route.method == request.method) {
      matched = &route;
      captures = std::move(values);
      break;
    }
  }

  std::string_view route_name = matched ? matched->pattern : std::string_view("unmatched");
  ApiResponse response;
  try {
    if (!matched) {
      throw path_known ? ApiError{405, "method_not_allowed",
                                  fmt::format("{} is not allowed on {}", request.method, path), ""}
                       : ApiError{404, "no_such_route", fmt::format("no such route: {}", path), ""};
    }
    ApiCall call{request, std::move(captures), {}};
    try {
      if (question != std::string_view::npos) {
        for (auto pair : Split(target.substr(question + 1), '&')) {
          if (pair.empty()) continue;
          auto equals = pair.find('=');
          auto key = PercentDecode(pair.substr(0, equals));
          auto value =
              PercentDecode(equals == std::string_view::npos ? "" : pair.substr(equals + 1));
          if (!key || !value) throw BadRequest("malformed_query", "the query string is malformed");
          call.query[*key] = *value;
        }
      }
      if (request.access < matched->access) {
        throw ApiError{403, "forbidden",
                       fmt::format("{} {} needs the {} role; caller uid {} has {}", request.method,
                                   matched->pattern, ToString(matched->access), request.caller.uid,
                                   request.access == AccessLevel::kNone
                                       ? std::string("no role")
                                       : fmt::format("the {} role", ToString(request.access))),
                       ""};
      }
      response = matched->handler(call);
    } catch (const ApiError& error) {
      if (!matched->action.empty()) {
        std::string object;
        std::size_t capture = 0;
        auto pattern = std::string_view(matched->object);
        while (!pattern.empty()) {
          auto brace = pattern.find("{}");
          object += pattern.substr(0, brace);
          if (brace == std::string_view::npos) break;
          if (capture < call.captures.size()) object += call.captures[capture++].substr(0, 80);
          pattern.remove_prefix(brace + 2);
        }
        AuditEvent event{request.caller, std::string(matched->action),
                         object,         RequestSummary(request.body),
                         error.status,   error.code};
        audit_.Record(event);
      }
      throw;
    }
  } catch (const ApiError& error) {
    spdlog::info("api: {} {} uid={} pid={} refused {} {}: {}", request.method, path,
                 request.caller.uid, request.caller.pid, error.status, error.code, error.message);
    response = ErrorResponse(error);
  } catch (const firewall::NftError& error) {
    spdlog::error("api: {} {} refused by the kernel: {}", request.method, path, error.what());
    response = ErrorResponse({503, "kernel_refused", error.what(), ""});
  } catch (const std::system_error& error) {
    spdlog::error("api: {} {} failed talking to the kernel: {}", request.method, path,
                  error.what());
    response = ErrorResponse({503, "kernel_unavailable", error.what(), ""});
  } catch (const StoreError& error) {
    spdlog::error("api: {} {} failed in the store: {}", request.method, path, error.what());
    response = ErrorResponse(
        {503, "store_unavailable", fmt::format("the state store failed: {}", error.what()), ""});
  } catch (const std::exception& error) {
    // A bug, not a refusal: answer it and keep serving everyone else.
    spdlog::error("api: {} {} failed: {}", request.method, path, error.what());
    response = ErrorResponse({500, "internal_error", "netd failed to handle the request", ""});
  }
  metrics_.CountRequest(route_name, request.method, response.status);
  return response;
}

}  // namespace netd
