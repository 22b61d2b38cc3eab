#pragma once

// The readers of the configuration file's sections, one per capability, that ReadConfig
// (config.cpp) composes. Each reads its keys in a fixed order, so that of several problems the
// same one is always reported first, and rejects the table's unknown keys last.

#include <vector>

#include "netd/daemon/config.hpp"
#include "table_reader.hpp"

namespace netd::config_reading {

// [netd]: the roles, the socket and directories, the log level.
void ReadNetdSection(TableReader& reader, Config& config);
ApiConfig ReadApiSection(TableReader& reader);
AuditConfig ReadAuditSection(TableReader& reader);
GatewayConfig ReadGatewaySection(TableReader& reader);
DnsConfig ReadDnsSection(TableReader& reader);
HostConfig ReadHostSection(TableReader& reader);
// `probe_interval_ms` and `request_timeout_ms` of [host] and [policy], whose peers netd keeps a
// connection to.
PeerTimeouts ReadPeerTimeouts(TableReader& reader);
PolicyConfig ReadPolicySection(TableReader& reader);
// Every [[network]] table (at least one), each valid on its own and against the earlier ones;
// `top` reads the file's top level.
std::vector<NetworkConfig> ReadNetworkSections(TableReader& top);

}  // namespace netd::config_reading
