#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace netd::ovs {

// Where an OVSDB server listens, in Open vSwitch's own notation (ovsdb-server --remote,
// ovs-vsctl --db): its unix socket, or TCP, plain or with TLS, for an ovsdb-server that the
// operator gave such a remote.
struct Remote {
  enum class Kind { kUnix, kTcp, kSsl };
  Kind kind = Kind::kUnix;
  std::filesystem::path path;        // kUnix
  boost::asio::ip::address address;  // kTcp, kSsl
  std::uint16_t port = 0;            // kTcp, kSsl

  static Remote Unix(std::filesystem::path path);
  friend bool operator==(const Remote&, const Remote&) = default;
};

// "unix:/run/openvswitch/db.sock" (or the bare absolute path), "tcp:192.0.2.1:6640",
// "tcp:[2001:db8::1]:6640", "ssl:192.0.2.1:6640". Addresses only, no host names: resolving
// one would make connecting depend on DNS. Throws std::invalid_argument naming the text and
// what is wrong with it.
Remote ParseOvsdbRemote(std::string_view text);
// The remote in the same notation ("unix:/run/openvswitch/db.sock", "tcp:[::1]:6640").
std::string ToString(const Remote& remote);

// What an ssl: remote needs, as ovsdb-server takes the same files (--private-key,
// --certificate, --ca-cert): netd presents its certificate, and accepts only a server whose
// certificate the CA signed.
struct TlsFiles {
  std::filesystem::path private_key;
  std::filesystem::path certificate;
  std::filesystem::path ca_certificate;
  friend bool operator==(const TlsFiles&, const TlsFiles&) = default;
};

}  // namespace netd::ovs
