#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netd/lab/command.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"

namespace netd::lab {

// A clustered OVSDB database (Raft) of the test's own: `members` ovsdb-servers of the database
// that `schema` describes, made with `ovsdb-tool create-cluster` and `join-cluster`, with their
// files in one temp directory. Each member runs in a network namespace of its own, as on a
// machine of its own, behind `hub` (the caller's namespace, where clients connect from): member
// i has the address 10.199.<i+1>.2 on a veth to the hub, which routes between the members.
// Member i listens for clients on ptcp:<first_port> (and, given certificates, on
// pssl:<first_port + 10>) and on a unix socket in the temp directory (reachable from any
// namespace, as a bench's hosts in namespaces of their own need), speaks Raft with the others on
// tcp:<address>:<first_port + 20>, takes `remotes` too (a db: remote, whose targets then open on
// every member alike), and has its own control socket for ovs-appctl. The constructor returns once
// the members have elected a leader that all of them know.
class OvsdbCluster {
 public:
  // ovsdb-server's --private-key, --certificate and --ca-cert for the pssl: remotes.
  struct Tls {
    std::filesystem::path private_key;
    std::filesystem::path certificate;
    std::filesystem::path ca_certificate;
  };
  struct Options {
    int members = 3;
    int first_port = 6641;
    std::optional<Tls> tls;
    // More --remote arguments for every member (e.g. "db:netd_policy,Policy,connections").
    std::vector<std::string> remotes = {};
    std::chrono::milliseconds ready_timeout = std::chrono::seconds(20);
  };

  OvsdbCluster(const Namespace& hub, const std::filesystem::path& schema, Options options);
  OvsdbCluster(const Namespace& hub, const std::filesystem::path& schema)
      : OvsdbCluster(hub, schema, Options{}) {}
  OvsdbCluster(const OvsdbCluster&) = delete;
  OvsdbCluster& operator=(const OvsdbCluster&) = delete;
  ~OvsdbCluster() = default;

  int size() const { return static_cast<int>(members_.size()); }
  // The database's name, from the schema.
  const std::string& database() const { return database_; }
  // "tcp:127.0.0.1:<port>" of member i, as OVSDB clients take it; "ssl:…" (with certificates).
  std::string tcp_remote(int member) const;
  std::string ssl_remote(int member) const;
  std::vector<std::string> tcp_remotes() const;
  std::vector<std::string> ssl_remotes() const;
  // "unix:<dir>/m<i>.sock" of member i.
  std::string unix_remote(int member) const;
  std::vector<std::string> unix_remotes() const;
  // Member i's address ("10.199.<i+1>.2").
  std::string address(int member) const;
  std::filesystem::path control_socket(int member) const;
  bool running(int member) const { return members_.at(member).Running(); }
  // Member i's ovsdb-server (0 while killed).
  pid_t pid(int member) const { return members_.at(member).pid(); }

  // The member whose own `cluster/status` says it is the leader; none while no running member
  // does.
  std::optional<int> Leader() const;
  // Waits until a running member is the leader and every running member names it; that member.
  // Throws std::runtime_error with the members' status and logs when none is by then.
  int WaitForLeader(std::chrono::milliseconds timeout) const;
  // SIGKILL, as a crash would.
  void Kill(int member);
  // Starts a killed member again on its database; returns once it answers as a cluster member.
  void Restart(int member);
  // The cluster's election timer (at least 100 ms), changed through the leader and in steps
  // that at most double it, as ovsdb-server accepts; returns once every running member has it.
  void SetElectionTimer(std::chrono::milliseconds timer);

  // ovs-appctl against member i's control socket.
  CommandResult Appctl(int member, const std::vector<std::string>& args) const;
  // `cluster/status` of the database on member i ("" when it does not answer).
  std::string Status(int member) const;

 private:
  void Start(int member);
  void WaitUntilMember(int member, std::chrono::steady_clock::time_point deadline) const;
  std::filesystem::path File(int member, const std::string& suffix) const;
  std::vector<std::string> Environment() const;
  std::string Diagnostics() const;

  Options options_;
  TempDir dir_;
  std::string database_;
  // Before the processes: they go first.
  std::vector<std::unique_ptr<Namespace>> namespaces_;
  std::vector<Process> members_;
};

}  // namespace netd::lab
