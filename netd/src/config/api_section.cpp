#include "sections.hpp"

namespace netd::config_reading {

ApiConfig ReadApiSection(TableReader& reader) {
  ApiConfig api;
  api.admin_group = reader.String("admin_group").value_or(api.admin_group);
  api.service_group = reader.String("service_group").value_or(api.service_group);
  api.max_connections = reader.IntegerOr("max_connections", 1, 4096, api.max_connections);
  api.max_body_bytes = reader.IntegerOr("max_body_bytes", 1024, 1 << 24, api.max_body_bytes);
  api.max_header_bytes = reader.IntegerOr("max_header_bytes", 1024, 1 << 20, api.max_header_bytes);
  api.request_timeout = std::chrono::milliseconds(
      reader.IntegerOr("request_timeout_ms", 100, 600'000, api.request_timeout.count()));
  reader.RejectUnknownKeys();
  return api;
}

AuditConfig ReadAuditSection(TableReader& reader) {
  AuditConfig audit;
  audit.anchor_file = ReadPath(reader, "anchor_file", audit.anchor_file);
  audit.anchor_interval = std::chrono::seconds(
      reader.IntegerOr("anchor_interval_s", 1, 3600, audit.anchor_interval.count()));
  reader.RejectUnknownKeys();
  return audit;
}

}  // namespace netd::config_reading
