#include "netd/ovs/remote.hpp"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace netd::ovs {
namespace {

[[noreturn]] void Fail(std::string_view text, std::string_view what) {
  throw std::invalid_argument(fmt::format("ovsdb remote \"{}\": {}", text, what));
}

}  // namespace

Remote Remote::Unix(std::filesystem::path path) {
  Remote remote;
  remote.path = std::move(path);
  return remote;
}

Remote ParseOvsdbRemote(std::string_view text) {
  constexpr std::string_view kForms = "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT";
  if (text.starts_with('/')) return Remote::Unix(std::string(text));
  auto colon = text.find(':');
  if (colon == std::string_view::npos) Fail(text, kForms);
  auto method = text.substr(0, colon);
  auto rest = text.substr(colon + 1);
  if (method == "unix") {
    if (!rest.starts_with('/')) Fail(text, "expected unix: and an absolute path");
    return Remote::Unix(std::string(rest));
  }
  Remote remote;
  if (method == "tcp") {
    remote.kind = Remote::Kind::kTcp;
  } else if (method == "ssl") {
    remote.kind = Remote::Kind::kSsl;
  } else {
    Fail(text, kForms);
  }
  auto form = fmt::format("expected {}:IP:PORT", method);

  std::string_view host;
  std::string_view port;
  bool bracketed = rest.starts_with('[');
  if (bracketed) {
    auto close = rest.find(']');
    if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") Fail(text, form);
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    auto last = rest.rfind(':');
    if (last == std::string_view::npos) Fail(text, form);
    host = rest.substr(0, last);
    port = rest.substr(last + 1);
    if (host.find(':') != std::string_view::npos) {
      Fail(text, fmt::format("{}, an IPv6 address in brackets ({}:[::1]:6640)", form, method));
    }
  }
  if (host.empty() || port.empty()) Fail(text, form);

  boost::system::error_code error;
  remote.address = boost::asio::ip::make_address(std::string(host), error);
  if (error) Fail(text, fmt::format("\"{}\" is not an IP address", host));
  if (bracketed && !remote.address.is_v6()) {
    Fail(text, fmt::format("\"{}\" in brackets is not an IPv6 address", host));
  }
  unsigned number = 0;
  auto [end, failed] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (failed != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
    Fail(text, fmt::format("port \"{}\" is not a number 1-65535", port));
  }
  remote.port = static_cast<std::uint16_t>(number);
  return remote;
}

std::string ToString(const Remote& remote) {
  if (remote.kind == Remote::Kind::kUnix) return "unix:" + remote.path.string();
  auto method = remote.kind == Remote::Kind::kTcp ? "tcp" : "ssl";
  auto address = remote.address.to_string();
  if (remote.address.is_v6()) return fmt::format("{}:[{}]:{}", method, address, remote.port);
  return fmt::format("{}:{}:{}", method, address, remote.port);
}

}  // namespace netd::ovs
