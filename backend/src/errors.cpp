#include "netd/client/errors.hpp"

#include <fmt/format.h>

namespace netd::client {
namespace {

std::string DescribeUnreachable(const std::string& socket_path, const std::string& stage,
                                const std::string& cause_text) {
  return fmt::format("cannot reach netd at {}: {}: {}", socket_path, stage, cause_text);
}

std::string DescribeRefusal(const std::string& code, const std::string& message,
                            const std::optional<std::string>& field) {
  if (field) return fmt::format("{} ({}, field {})", message, code, *field);
  return fmt::format("{} ({})", message, code);
}

}  // namespace

UnreachableError::UnreachableError(std::string socket_path, std::string stage,
                                   std::error_code cause)
    : Error(DescribeUnreachable(socket_path, stage, cause.message())),
      socket_path_(std::move(socket_path)),
      stage_(std::move(stage)),
      cause_(cause) {}

UnreachableError::UnreachableError(std::string socket_path, std::string stage,
                                   std::string cause_text)
    : Error(DescribeUnreachable(socket_path, stage, cause_text)),
      socket_path_(std::move(socket_path)),
      stage_(std::move(stage)) {}

ApiError::ApiError(unsigned status, std::string code, std::string message,
                   std::optional<std::string> field)
    : Error(DescribeRefusal(code, message, field)),
      status_(status),
      code_(std::move(code)),
      message_(std::move(message)),
      field_(std::move(field)) {}

}  // namespace netd::client
