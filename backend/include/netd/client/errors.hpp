#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace netd::client {

// Base of everything the client throws, so a caller can catch "netd said no or could not be
// asked" in one place and still tell the cases apart below.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// netd could not be asked: the socket is missing, refused the connection, is not ours to open,
// or no complete answer arrived before the deadline. Nothing is known about whether a mutation
// that was sent took effect; every mutation of the API is idempotent, so retrying is safe.
class UnreachableError : public Error {
 public:
  // `stage` names what was being done ("connect", "send", "receive"); `cause` is what the OS (or
  // the deadline) said.
  UnreachableError(std::string socket_path, std::string stage, std::error_code cause);
  UnreachableError(std::string socket_path, std::string stage, std::string cause_text);

  const std::string& socket_path() const { return socket_path_; }
  const std::string& stage() const { return stage_; }
  // Empty when the failure has no OS error (a timeout, a connection closed mid-response).
  std::error_code cause() const { return cause_; }

 private:
  std::string socket_path_;
  std::string stage_;
  std::error_code cause_;
};

// Something answered on the socket, but not in netd's protocol (not HTTP, or JSON of a shape this
// client does not know): usually a version mismatch or a wrong socket path.
class ProtocolError : public Error {
 public:
  using Error::Error;
};

// netd understood the request and refused it (HTTP status >= 400). what() reads
// "<message> (<code>[, field <field>])".
class ApiError : public Error {
 public:
  ApiError(unsigned status, std::string code, std::string message,
           std::optional<std::string> field);

  unsigned status() const { return status_; }
  // A stable snake_case identifier, for programs: "unknown_network", "not_found", ...
  const std::string& code() const { return code_; }
  // The human explanation netd gave.
  const std::string& message() const { return message_; }
  // The request field that was rejected, when the refusal is about one.
  const std::optional<std::string>& field() const { return field_; }

 private:
  unsigned status_;
  std::string code_;
  std::string message_;
  std::optional<std::string> field_;
};

}  // namespace netd::client
