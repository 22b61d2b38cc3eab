#include "netd/client/client.hpp"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>
#include <stdexcept>

#include "netd/client/targets.hpp"

namespace netd::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using UnixStream = beast::basic_stream<asio::local::stream_protocol>;

// Audit pages and VM lists can be large; anything beyond this is not netd talking.
constexpr std::uint64_t kResponseBodyLimit = 64 * 1024 * 1024;

// Runs one asynchronous operation to completion on `io`. Asio's blocking calls cannot be
// cancelled, so each step is asynchronous and the stream's deadline closes the socket when it
// passes; from the caller's side the call is still synchronous.
template <typename StartOperation>
boost::system::error_code RunToCompletion(asio::io_context& io, StartOperation&& start) {
  boost::system::error_code result;
  start([&result](boost::system::error_code error, auto&&...) { result = error; });
  io.restart();
  io.run();
  return result;
}

// The error a failed step reports, as the caller should read it.
UnreachableError Unreachable(const std::string& socket_path, const char* stage,
                             boost::system::error_code error, std::chrono::milliseconds timeout) {
  if (error == beast::error::timeout) {
    return UnreachableError(socket_path, stage,
                            fmt::format("no complete answer within {} ms", timeout.count()));
  }
  if (error == http::error::end_of_stream || error == asio::error::eof ||
      error == http::error::partial_message) {
    return UnreachableError(socket_path, stage, "connection closed before a complete answer");
  }
  return UnreachableError(socket_path, stage, std::error_code(error));
}

// Parse failures of the answer itself, as opposed to the connection breaking off.
bool IsMalformedHttp(boost::system::error_code error) {
  return error.category() == http::make_error_code(http::error::bad_version).category() &&
         error != http::error::end_of_stream && error != http::error::partial_message;
}

bool IsJsonMediaType(std::string_view content_type) {
  return content_type.find("json") != std::string_view::npos;
}

// The refusal netd described in {"error":{"code","message","field"?}}; a refusal without that
// body (a proxy, a crash) still gets a code and a message, from the HTTP status.
ApiError Refusal(const http::response<http::string_body>& message, const nlohmann::json& body) {
  const unsigned status = message.result_int();
  std::string code = fmt::format("http_{}", status);
  std::string text(message.reason());
  std::optional<std::string> field;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& error = body["error"];
    if (error.contains("code") && error["code"].is_string()) code = error["code"];
    if (error.contains("message") && error["message"].is_string()) text = error["message"];
    if (error.contains("field") && error["field"].is_string()) field = error["field"];
  } else if (!message.body().empty()) {
    text = message.body();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  }
  if (text.empty()) text = fmt::format("HTTP status {}", status);
  return ApiError(status, std::move(code), std::move(text), std::move(field));
}

}  // namespace

Client::Client(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

Response Client::Request(std::string_view method, std::string_view target,
                         const std::optional<nlohmann::json>& body) const {
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    throw std::invalid_argument(fmt::format("unknown HTTP method \"{}\"", method));
  }

  // An over-long path cannot even name a socket: report it like any other unreachable socket.
  asio::local::stream_protocol::endpoint endpoint;
  try {
    endpoint = asio::local::stream_protocol::endpoint(socket_path_);
  } catch (const boost::system::system_error& error) {
    throw UnreachableError(socket_path_, "connect", std::error_code(error.code()));
  }

  asio::io_context io;
  UnixStream stream(io);
  stream.expires_after(timeout_);

  auto error = RunToCompletion(io, [&](auto handler) { stream.async_connect(endpoint, handler); });
  if (error) throw Unreachable(socket_path_, "connect", error, timeout_);

  http::request<http::string_body> request(verb, target, 11);
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "netd-client/" NETD_CLIENT_VERSION);
  request.set(http::field::accept, "application/json");
  request.keep_alive(false);
  if (body) {
    request.set(http::field::content_type, "application/json");
    request.body() = body->dump();
  }
  request.prepare_payload();
  error = RunToCompletion(io, [&](auto handler) { http::async_write(stream, request, handler); });
  if (error) throw Unreachable(socket_path_, "send", error, timeout_);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBodyLimit);
  error =
      RunToCompletion(io, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
  if (IsMalformedHttp(error)) {
    throw ProtocolError(fmt::format("netd at {} sent a response that is not valid HTTP: {}",
                                    socket_path_, error.message()));
  }
  if (error) throw Unreachable(socket_path_, "receive", error, timeout_);

  const auto& message = parser.get();
  Response response;
  response.status = message.result_int();
  response.text = message.body();
  const auto content_type = message[http::field::content_type];
  if (IsJsonMediaType(content_type) && !response.text.empty()) {
    response.body = nlohmann::json::parse(response.text, nullptr, /*allow_exceptions=*/false);
    if (response.body.is_discarded()) {
      throw ProtocolError(
          fmt::format("netd at {} sent a body that is not valid JSON (status {}) to {} {}",
                      socket_path_, response.status, method, target));
    }
  }
  if (response.status >= 400) throw Refusal(message, response.body);
  return response;
}

StatusReport Client::Status() const {
  return Decode<StatusReport>(Request("GET", targets::kStatus).body);
}

std::vector<NetworkInfo> Client::Networks() const {
  return DecodeNetworks(Request("GET", targets::kNetworks).body);
}

BindResult Client::BindVm(std::string_view vm, std::string_view network,
                          std::optional<std::string_view> hostname) const {
  nlohmann::json request = {{"network", network}};
  if (hostname) request["hostname"] = *hostname;
  const Response response = Request("PUT", targets::Vm(vm), request);
  return BindResult{Decode<VmBinding>(response.body), response.status == 201};
}

VmBinding Client::GetVm(std::string_view vm) const {
  return Decode<VmBinding>(Request("GET", targets::Vm(vm)).body);
}

std::vector<VmBinding> Client::ListVms(std::optional<std::string_view> network) const {
  return DecodeVms(Request("GET", targets::Vms(network)).body);
}

VmBinding Client::UnbindVm(std::string_view vm) const {
  return DecodeUnbound(Request("DELETE", targets::Vm(vm)).body);
}

std::vector<AllowlistRule> Client::ListAllowlist() const {
  return DecodeAllowlist(Request("GET", targets::kAllowlist).body);
}

AllowlistRule Client::GetAllowlistRule(std::string_view name) const {
  return Decode<AllowlistRule>(Request("GET", targets::Rule(name)).body);
}

AllowlistPutResult Client::PutAllowlistRule(std::string_view name,
                                            const AllowlistRuleSpec& spec) const {
  const Response response = Request("PUT", targets::Rule(name), nlohmann::json(spec));
  return AllowlistPutResult{Decode<AllowlistRule>(response.body), response.status == 201};
}

AllowlistRule Client::DeleteAllowlistRule(std::string_view name) const {
  return DecodeDeletedRule(Request("DELETE", targets::Rule(name)).body);
}

AllowlistRule Client::AssignAllowlistRule(std::string_view name, std::string_view vm) const {
  return Decode<AllowlistRule>(Request("PUT", targets::RuleVm(name, vm)).body);
}

AllowlistRule Client::UnassignAllowlistRule(std::string_view name, std::string_view vm) const {
  return Decode<AllowlistRule>(Request("DELETE", targets::RuleVm(name, vm)).body);
}

std::vector<Group> Client::ListGroups() const {
  return DecodeGroups(Request("GET", targets::kGroups).body);
}

Group Client::GetGroup(std::string_view name) const {
  return Decode<Group>(Request("GET", targets::Group(name)).body);
}

GroupPutResult Client::PutGroup(std::string_view name, const GroupSpec& spec) const {
  const Response response = Request("PUT", targets::Group(name), nlohmann::json(spec));
  return GroupPutResult{Decode<Group>(response.body), response.status == 201};
}

Group Client::DeleteGroup(std::string_view name) const {
  return DecodeDeletedGroup(Request("DELETE", targets::Group(name)).body);
}

Group Client::AddGroupMember(std::string_view name, std::string_view vm) const {
  return Decode<Group>(Request("PUT", targets::GroupMember(name, vm)).body);
}

Group Client::RemoveGroupMember(std::string_view name, std::string_view vm) const {
  return Decode<Group>(Request("DELETE", targets::GroupMember(name, vm)).body);
}

Forward Client::OpenForward(const ForwardSpec& spec) const {
  return Decode<Forward>(Request("POST", targets::kForwards, nlohmann::json(spec)).body);
}

std::vector<Forward> Client::ListForwards() const {
  return DecodeForwards(Request("GET", targets::kForwards).body);
}

Forward Client::GetForward(std::string_view id) const {
  return Decode<Forward>(Request("GET", targets::Forward(id)).body);
}

Forward Client::RenewForward(std::string_view id, std::optional<std::int64_t> ttl_s) const {
  nlohmann::json body = nlohmann::json::object();
  if (ttl_s) body["ttl_s"] = *ttl_s;
  return Decode<Forward>(Request("POST", targets::Forward(id) + "/renew", body).body);
}

Forward Client::CloseForward(std::string_view id) const {
  return DecodeClosedForward(Request("DELETE", targets::Forward(id)).body);
}

AuditPage Client::Audit(std::optional<std::uint64_t> after,
                        std::optional<std::uint64_t> limit) const {
  return Decode<AuditPage>(Request("GET", targets::Audit(after, limit)).body);
}

AuditVerification Client::VerifyAudit() const {
  return Decode<AuditVerification>(Request("GET", targets::kAuditVerify).body);
}

std::vector<DnsDecision> Client::DnsLog(std::optional<std::string_view> vm,
                                        std::optional<std::uint64_t> limit) const {
  return DecodeDnsLog(Request("GET", targets::DnsLog(vm, limit)).body);
}

std::vector<HostPort> Client::HostPorts() const {
  return DecodeHostPorts(Request("GET", targets::kHostPorts).body);
}

std::string Client::Metrics() const {
  return Request("GET", targets::kMetrics).text;
}

}  // namespace netd::client
