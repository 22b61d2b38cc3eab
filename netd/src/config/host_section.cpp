#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "sections.hpp"

namespace netd::config_reading {
namespace {

// A libvirt connection URI: scheme (driver, optionally +transport), "://", the rest.
bool IsLibvirtUri(std::string_view uri) {
  auto scheme = uri.find("://");
  if (scheme == std::string_view::npos || scheme == 0) return false;
  return std::all_of(uri.begin(), uri.begin() + static_cast<std::ptrdiff_t>(scheme), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || c == '+';
  });
}

std::optional<ovs::Remote> ReadOvsdbRemote(TableReader& reader) {
  auto remote = reader.String("ovsdb_remote");
  if (!remote) return std::nullopt;
  try {
    return ovs::ParseOvsdbRemote(*remote);
  } catch (const std::invalid_argument& error) {
    reader.Fail(reader.Node("ovsdb_remote"), "ovsdb_remote", error.what());
  }
}

}  // namespace

PeerTimeouts ReadPeerTimeouts(TableReader& reader) {
  PeerTimeouts timeouts;
  timeouts.probe_interval = std::chrono::milliseconds(
      reader.IntegerOr("probe_interval_ms", 100, 3600000, timeouts.probe_interval.count()));
  timeouts.request_timeout = std::chrono::milliseconds(
      reader.IntegerOr("request_timeout_ms", 1000, 3600000, timeouts.request_timeout.count()));
  return timeouts;
}

HostConfig ReadHostSection(TableReader& reader) {
  HostConfig host;
  host.datapath_type = reader.String("datapath_type").value_or(host.datapath_type);
  if (!ovs::IsValidDatapathType(host.datapath_type)) {
    reader.Fail(reader.Node("datapath_type"), "datapath_type",
                fmt::format("expected \"system\" or \"netdev\", got \"{}\"", host.datapath_type));
  }
  host.ovsdb_remote = ReadOvsdbRemote(reader).value_or(host.ovsdb_remote);
  host.openvswitch_rundir = ReadPath(reader, "openvswitch_rundir", host.openvswitch_rundir);
  host.libvirt_uri = reader.String("libvirt_uri").value_or(host.libvirt_uri);
  if (!host.libvirt_uri.empty() && !IsLibvirtUri(host.libvirt_uri)) {
    reader.Fail(reader.Node("libvirt_uri"), "libvirt_uri",
                fmt::format("expected a libvirt URI such as \"qemu:///system\", or \"\" for a "
                            "host without libvirt; got \"{}\"",
                            host.libvirt_uri));
  }
  host.ovsdb_tls =
      ReadTlsFiles(reader, "ovsdb_", host.ovsdb_remote.kind == ovs::Remote::Kind::kSsl,
                   "missing; an ssl: ovsdb_remote needs ovsdb_private_key, ovsdb_certificate and "
                   "ovsdb_ca_certificate",
                   fmt::format("only for an ssl: ovsdb_remote, and \"{}\" is not one",
                               ovs::ToString(host.ovsdb_remote)));
  host.timeouts = ReadPeerTimeouts(reader);
  reader.RejectUnknownKeys();
  return host;
}

}  // namespace netd::config_reading
