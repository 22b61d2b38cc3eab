#pragma once

// Helpers shared by the control API's route handlers.

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netd/common/object_id.hpp"
#include "netd/daemon/api_types.hpp"
#include "netd/dhcp/ipam.hpp"

namespace netd {

ApiError BadRequest(std::string code, std::string message, std::string field = {});
// The integer query parameter `key` (min-max), `fallback` when absent; a 400 naming it otherwise.
std::int64_t QueryNumber(const std::map<std::string, std::string, std::less<>>& query,
                         std::string_view key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max);
ApiError Unprocessable(std::string code, std::string message, std::string field = {});

std::optional<std::string> PercentDecode(std::string_view text);
std::vector<std::string_view> Split(std::string_view text, char separator);
std::string IsoTime(std::int64_t ms);
std::int64_t ToMs(std::chrono::system_clock::time_point time);

void RequireValidVmId(std::string_view vm);

nlohmann::json BindingJson(const dhcp::VmBinding& binding);
// Caller-supplied bytes that are not UTF-8 are echoed as U+FFFD rather than failing the answer.
ApiResponse JsonResponse(int status, const nlohmann::json& body);
nlohmann::json ParseObjectBody(const std::string& body);
// What a refused request asked for, small enough that refusals cannot flood the audit chain.
nlohmann::json RequestSummary(const std::string& body);

}  // namespace netd
