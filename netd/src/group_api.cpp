// The segmentation groups of the control API: /v1/groups.
#include "netd/daemon/group_api.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>

#include "api_support.hpp"
#include "mutation.hpp"
#include "netd/common/object_id.hpp"

namespace netd {

using nlohmann::json;

namespace {

// Bounds on one group, so that a single request cannot flood the store or the hosts' flows.
constexpr std::size_t kMaxGroupMembers = 1024;
constexpr std::size_t kMaxGroupPorts = 64;
constexpr std::size_t kMaxGroupComment = 256;

constexpr Metric kGroups{"netd_groups", MetricType::kGauge, "Segmentation groups."};

void RequireValidGroupName(std::string_view name) {
  if (!IsValidObjectId(name)) {
    throw Unprocessable("invalid_group_name",
                        fmt::format("group name \"{}\" is invalid: expected 1-{} characters of "
                                    "A-Z, a-z, 0-9, '.', '_' or '-'",
                                    name.substr(0, 80), kMaxObjectIdLength),
                        "group");
  }
}

bool TakesPorts(std::string_view protocol) {
  return protocol == "tcp" || protocol == "udp";
}

std::set<std::string> Members(const json& value) {
  if (!value.is_array()) {
    throw BadRequest("invalid_type", "field \"members\" must be an array of VM ids", "members");
  }
  if (value.size() > kMaxGroupMembers) {
    throw Unprocessable("invalid_members",
                        fmt::format("field \"members\" may list at most {} VMs, got {}",
                                    kMaxGroupMembers, value.size()),
                        "members");
  }
  std::set<std::string> members;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto field = fmt::format("members[{}]", i);
    if (!value[i].is_string()) {
      throw BadRequest("invalid_type", fmt::format("{} must be a VM id string", field), field);
    }
    auto vm = value[i].get<std::string>();
    if (!IsValidObjectId(vm)) {
      throw Unprocessable("invalid_vm_id",
                          fmt::format("{} \"{}\" is not a valid VM id: expected 1-{} characters "
                                      "of A-Z, a-z, 0-9, '.', '_' or '-'",
                                      field, vm.substr(0, 80), kMaxObjectIdLength),
                          field);
    }
    // A VM listed twice is a member once.
    members.insert(std::move(vm));
  }
  return members;
}

std::set<std::uint16_t> Ports(const json& value) {
  if (!value.is_array()) {
    throw BadRequest("invalid_type", "field \"ports\" must be an array of port numbers", "ports");
  }
  if (value.size() > kMaxGroupPorts) {
    throw Unprocessable("invalid_ports",
                        fmt::format("field \"ports\" may hold at most {} ports, got {}",
                                    kMaxGroupPorts, value.size()),
                        "ports");
  }
  std::set<std::uint16_t> ports;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto field = fmt::format("ports[{}]", i);
    if (!value[i].is_number_integer()) {
      throw BadRequest("invalid_type", fmt::format("{} must be a port number", field), field);
    }
    auto port = value[i].get<std::int64_t>();
    if (port < 1 || port > 65535) {
      throw Unprocessable("invalid_port",
                          fmt::format("{} must be a port 1-65535, got {}", field, port), field);
    }
    ports.insert(static_cast<std::uint16_t>(port));
  }
  return ports;
}

// The group `body` describes, or the API's error for what is wrong with it: a body of the wrong
// shape is a 400, a value no group may hold a 422 (as for allowlist rules).
policy::PublishedGroup ParseGroupBody(std::string_view name, const json& body,
                                      const dhcp::Ipam& ipam) {
  static constexpr std::array<std::string_view, 5> kFields = {"network", "members", "protocol",
                                                              "ports", "comment"};
  for (const auto& [key, value] : body.items()) {
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
      throw BadRequest("unknown_field",
                       fmt::format("unknown field \"{}\"; expected network, members, protocol, "
                                   "ports and comment",
                                   key.substr(0, 80)),
                       key);
    }
  }
  policy::PublishedGroup group;
  group.name = std::string(name);

  if (!body.contains("network")) {
    throw BadRequest("missing_field", "field \"network\" is required", "network");
  }
  if (!body["network"].is_string()) {
    throw BadRequest("invalid_type", "field \"network\" must be a string", "network");
  }
  group.network = body["network"].get<std::string>();
  if (!ipam.HasNetwork(group.network)) {
    throw Unprocessable(
        "unknown_network",
        fmt::format("no network named \"{}\" is configured", group.network.substr(0, 80)),
        "network");
  }

  if (body.contains("members")) group.members = Members(body["members"]);

  group.protocol = "all";
  if (body.contains("protocol")) {
    const auto& protocol = body["protocol"];
    if (!protocol.is_string()) {
      throw BadRequest("invalid_type", "field \"protocol\" must be a string", "protocol");
    }
    group.protocol = protocol.get<std::string>();
    if (group.protocol != "all" && group.protocol != "icmp" && !TakesPorts(group.protocol)) {
      throw Unprocessable("invalid_protocol",
                          fmt::format("protocol must be \"all\", \"tcp\", \"udp\" or \"icmp\", "
                                      "got \"{}\"",
                                      group.protocol.substr(0, 80)),
                          "protocol");
    }
  }

  if (body.contains("ports")) {
    group.ports = Ports(body["ports"]);
    if (!group.ports.empty() && !TakesPorts(group.protocol)) {
      throw Unprocessable("invalid_ports",
                          fmt::format("ports may be given only with protocol tcp or udp; "
                                      "protocol {} opens the whole protocol between members",
                                      group.protocol),
                          "ports");
    }
  }

  if (body.contains("comment")) {
    const auto& comment = body["comment"];
    if (!comment.is_string() && !comment.is_null()) {
      throw BadRequest("invalid_type", "field \"comment\" must be a string", "comment");
    }
    if (comment.is_string()) group.comment = comment.get<std::string>();
    if (group.comment.size() > kMaxGroupComment) {
      throw Unprocessable("invalid_comment",
                          fmt::format("comment is longer than {} bytes", kMaxGroupComment),
                          "comment");
    }
  }
  return group;
}

}  // namespace

GroupApi::GroupApi(const Config& config, Store& store, AuditChain& audit, const dhcp::Ipam& ipam)
    : config_(config), store_(store), audit_(audit), ipam_(ipam) {
  for (auto& stored : store_.LoadGroups()) {
    if (!ipam_.HasNetwork(stored.group.network)) {
      throw std::runtime_error(fmt::format(
          "the state store {} holds group {} on network {}, which is not configured; restore "
          "the configuration that made it or delete the group with the old one",
          (config_.state_dir / "netd.db").string(), stored.group.name, stored.group.network));
    }
    auto name = stored.group.name;
    groups_.emplace(std::move(name), std::move(stored));
  }
}

std::vector<policy::PublishedGroup> GroupApi::published() const {
  std::vector<policy::PublishedGroup> groups;
  for (const auto& [name, stored] : groups_) groups.push_back(stored.group);
  return groups;
}

std::span<const RouteOf<GroupApi>> GroupApi::Routes() {
  static constexpr RouteOf<GroupApi> kRoutes[] = {
      {"GET", "/v1/groups", AccessLevel::kService, "", "", &GroupApi::ListGroups},
      {"GET", "/v1/groups/{group}", AccessLevel::kService, "", "", &GroupApi::GetGroup},
      {"PUT", "/v1/groups/{group}", AccessLevel::kAdmin, "group.put", "group/{}",
       &GroupApi::PutGroup},
      {"DELETE", "/v1/groups/{group}", AccessLevel::kAdmin, "group.delete", "group/{}",
       &GroupApi::DeleteGroup},
      {"PUT", "/v1/groups/{group}/members/{vm}", AccessLevel::kAdmin, "group.assign",
       "group/{}/vm/{}", &GroupApi::AddMember},
      {"DELETE", "/v1/groups/{group}/members/{vm}", AccessLevel::kAdmin, "group.unassign",
       "group/{}/vm/{}", &GroupApi::RemoveMember},
  };
  return kRoutes;
}

void GroupApi::Report(StatusReport& report) const {
  report.Figure("/groups/total", kGroups, groups_.size());
}

const StoredGroup& GroupApi::RequireGroup(std::string_view name) const {
  RequireValidGroupName(name);
  auto it = groups_.find(name);
  if (it == groups_.end()) {
    throw ApiError{404, "no_such_group", fmt::format("no group named {}", name), "group"};
  }
  return it->second;
}

json GroupApi::GroupJson(const StoredGroup& stored) const {
  const auto& group = stored.group;
  auto bound = std::count_if(group.members.begin(), group.members.end(), [&](const auto& vm) {
    const auto* binding = ipam_.Find(vm);
    return binding && binding->network == group.network;
  });
  return {{"group", group.name},
          {"network", group.network},
          {"members", group.members},
          {"protocol", group.protocol},
          {"ports", group.ports},
          {"comment", group.comment},
          {"bound_members", bound},
          {"created_at", IsoTime(stored.created_ms)},
          {"updated_at", IsoTime(stored.updated_ms)}};
}

ApiResponse GroupApi::CommitGroup(const ApiCall& call, policy::PublishedGroup group,
                                  const std::string& action, const json& request) {
  auto existing = groups_.find(group.name);
  bool replacing = existing != groups_.end();
  AuditEvent event{call.request.caller,   action, fmt::format("group/{}", group.name), request,
                   replacing ? 200 : 201, ""};
  if (replacing && existing->second.group == group) {
    CommitMutation(audit_, {event});
    return JsonResponse(200, GroupJson(existing->second));
  }
  auto now = AuditChain::NowMs();
  StoredGroup stored{std::move(group), replacing ? existing->second.created_ms : now, now};
  Mutation mutation{event, [&] { store_.PutGroup(stored); }};
  std::vector<std::function<void()>> after;
  for (auto* observer : observers_) after.push_back(observer->PlanSetGroup(stored.group, mutation));
  CommitMutation(audit_, mutation);
  groups_.insert_or_assign(stored.group.name, stored);
  RunAfterCommit(after);
  spdlog::info("group {}: {} by uid {}: network {}, {} members, protocol {}, {} ports",
               stored.group.name, replacing ? "updated" : "created", call.request.caller.uid,
               stored.group.network, stored.group.members.size(), stored.group.protocol,
               stored.group.ports.size());
  return JsonResponse(event.status, GroupJson(stored));
}

ApiResponse GroupApi::ListGroups(const ApiCall&) {
  json groups = json::array();
  for (const auto& [name, stored] : groups_) groups.push_back(GroupJson(stored));
  return JsonResponse(200, {{"groups", groups}});
}

ApiResponse GroupApi::GetGroup(const ApiCall& call) {
  const auto& stored = RequireGroup(call.captures[0]);
  auto body = GroupJson(stored);
  json bound = json::array();
  for (const auto& vm : stored.group.members) {
    const auto* binding = ipam_.Find(vm);
    if (binding && binding->network == stored.group.network) bound.push_back(vm);
  }
  body["members_bound"] = bound;
  return JsonResponse(200, body);
}

ApiResponse GroupApi::PutGroup(const ApiCall& call) {
  const auto& name = call.captures[0];
  RequireValidGroupName(name);
  auto body = ParseObjectBody(call.request.body);
  return CommitGroup(call, ParseGroupBody(name, body, ipam_), "group.put", body);
}

ApiResponse GroupApi::DeleteGroup(const ApiCall& call) {
  const auto& name = call.captures[0];
  auto before = RequireGroup(name);
  AuditEvent event{
      call.request.caller, "group.delete", fmt::format("group/{}", name), json::object(), 200, ""};
  Mutation mutation{event, [&] { store_.DeleteGroup(name); }};
  std::vector<std::function<void()>> after;
  for (auto* observer : observers_) after.push_back(observer->PlanRemoveGroup(name, mutation));
  CommitMutation(audit_, mutation);
  groups_.erase(name);
  RunAfterCommit(after);
  spdlog::info("group {}: deleted by uid {}: {} members", name, call.request.caller.uid,
               before.group.members.size());
  return JsonResponse(200, {{"deleted", GroupJson(before)}});
}

ApiResponse GroupApi::AddMember(const ApiCall& call) {
  const auto& name = call.captures[0];
  const auto& vm = call.captures[1];
  RequireValidGroupName(name);
  RequireValidVmId(vm);
  auto group = RequireGroup(name).group;
  if (!group.members.contains(vm) && group.members.size() >= kMaxGroupMembers) {
    throw Unprocessable(
        "invalid_members",
        fmt::format("group {} has {} members, the most a group may have", name, kMaxGroupMembers),
        "vm");
  }
  group.members.insert(vm);
  return CommitGroup(call, std::move(group), "group.assign", {{"vm", vm}});
}

ApiResponse GroupApi::RemoveMember(const ApiCall& call) {
  const auto& name = call.captures[0];
  const auto& vm = call.captures[1];
  RequireValidGroupName(name);
  RequireValidVmId(vm);
  auto group = RequireGroup(name).group;
  if (group.members.erase(vm) == 0) {
    throw ApiError{404, "vm_not_member", fmt::format("VM {} is not a member of group {}", vm, name),
                   "vm"};
  }
  return CommitGroup(call, std::move(group), "group.unassign", {{"vm", vm}});
}

}  // namespace netd
