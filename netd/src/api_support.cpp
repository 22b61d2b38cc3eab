#include "api_support.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <charconv>

namespace netd {

using nlohmann::json;

ApiError BadRequest(std::string code, std::string message, std::string field) {
  return {400, std::move(code), std::move(message), std::move(field)};
}
std::int64_t QueryNumber(const std::map<std::string, std::string, std::less<>>& query,
                         std::string_view key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max) {
  auto it = query.find(key);
  if (it == query.end()) return fallback;
  std::int64_t value = 0;
  const auto& text = it->second;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min ||
      value > max) {
    throw BadRequest("invalid_query",
                     fmt::format("query parameter {} must be an integer {}-{}", key, min, max),
                     std::string(key));
  }
  return value;
}

ApiError Unprocessable(std::string code, std::string message, std::string field) {
  return {422, std::move(code), std::move(message), std::move(field)};
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return std::nullopt;
    auto [end, error] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (error != std::errc{} || end != text.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

std::string IsoTime(std::int64_t ms) {
  auto seconds = static_cast<std::time_t>(ms / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(seconds), ms % 1000);
}

std::int64_t ToMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

void RequireValidVmId(std::string_view vm) {
  if (!IsValidObjectId(vm)) {
    throw Unprocessable("invalid_vm_id",
                        fmt::format("VM id \"{}\" is invalid: expected 1-{} characters of "
                                    "A-Z, a-z, 0-9, '.', '_' or '-'",
                                    vm.substr(0, 80), kMaxObjectIdLength),
                        "vm");
  }
}

json BindingJson(const dhcp::VmBinding& binding) {
  return {{"vm", binding.vm},
          {"network", binding.network},
          {"ip", binding.ip.ToString()},
          {"mac", binding.mac.ToString()},
          {"hostname", binding.hostname ? json(*binding.hostname) : json(nullptr)},
          {"created_at", IsoTime(binding.created_ms)}};
}

// Caller-supplied bytes that are not UTF-8 are echoed as U+FFFD rather than failing the answer.
ApiResponse JsonResponse(int status, const json& body) {
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}

json ParseObjectBody(const std::string& body) {
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    throw BadRequest("malformed_json", "the request body is not valid JSON");
  }
  if (!parsed.is_object()) {
    throw BadRequest("invalid_type", "the request body must be a JSON object");
  }
  return parsed;
}

// What a refused request asked for, small enough that refusals cannot flood the audit chain.
json RequestSummary(const std::string& body) {
  constexpr std::size_t kMaxRecordedBody = 4096;
  if (body.empty()) return json::object();
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || body.size() > kMaxRecordedBody) {
    return {{"unrecorded_body_bytes", body.size()}};
  }
  return parsed;
}

}  // namespace netd
