// Roles from SO_PEERCRED: real processes with real uids and groups connect to the socket.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd::testing {
namespace {

constexpr uid_t kNobody = 65534;
// Groups every Debian base system has, standing in for netd-admin and netd.
constexpr gid_t kAdminGroup = 50;     // staff
constexpr gid_t kServiceGroup = 100;  // users
constexpr gid_t kOtherGroup = 65534;  // nogroup

// The HTTP status a request got when made by a child process with the given identity; -1
// when it could not connect, with errno saved in `connect_errno`.
int StatusAs(const std::filesystem::path& socket, std::vector<gid_t> groups,
             const std::string& method, const std::string& target, const std::string& body = "") {
  int fds[2];
  if (pipe(fds) != 0) return -2;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (setgroups(groups.size(), groups.data()) != 0 || setgid(groups[0]) != 0 ||
        setuid(kNobody) != 0) {
      _exit(1);
    }
    RawConnection connection(socket);
    int status = connection.connected() ? -1 : -1000 - connection.connect_errno();
    if (connection.connected()) {
      connection.Send(method + " " + target + " HTTP/1.1\r\nHost: netd\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body);
      status = connection.Receive().status;
    }
    [[maybe_unused]] auto written = write(fds[1], &status, sizeof(status));
    _exit(0);
  }
  close(fds[1]);
  int status = -2;
  [[maybe_unused]] auto got = read(fds[0], &status, sizeof(status));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return status;
}

class ApiRoles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") {
        FAIL() << "role tests need root (they switch uid/gid), and CI runs as root";
      }
      GTEST_SKIP() << "role tests need root";
    }
    std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
    netd_ = std::make_unique<NetdProcess>(dir_.path(), [](std::string text) {
      text = Replace(text, "admin_group = \"netd-admin\"", "admin_group = \"staff\"");
      return Replace(text, "service_group = \"netd\"", "service_group = \"users\"");
    });
    netd_->Start();
  }

  lab::TempDir dir_{"api"};
  std::unique_ptr<NetdProcess> netd_;
};

TEST_F(ApiRoles, SocketBelongsToTheServiceGroup) {
  struct stat info {};
  ASSERT_EQ(stat(netd_->socket().c_str(), &info), 0);
  EXPECT_EQ(info.st_gid, kServiceGroup);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
}

TEST_F(ApiRoles, ServiceGroupMayBindButNotReadTheAudit) {
  std::vector<gid_t> service = {kServiceGroup};
  EXPECT_EQ(StatusAs(netd_->socket(), service, "GET", "/v1/status"), 200);
  EXPECT_EQ(StatusAs(netd_->socket(), service, "PUT", "/v1/vms/vm1", R"({"network":"secure"})"),
            201);
  EXPECT_EQ(StatusAs(netd_->socket(), service, "GET", "/v1/audit"), 403);
  EXPECT_EQ(StatusAs(netd_->socket(), service, "GET", "/v1/audit/verify"), 403);
}

TEST_F(ApiRoles, AdminGroupMayReadTheAudit) {
  std::vector<gid_t> admin = {kAdminGroup, kServiceGroup};
  EXPECT_EQ(StatusAs(netd_->socket(), admin, "GET", "/v1/audit"), 200);
  EXPECT_EQ(StatusAs(netd_->socket(), admin, "PUT", "/v1/vms/vm1", R"({"network":"secure"})"), 201);
  // The audit names the caller's uid from SO_PEERCRED, not anything the client claims.
  auto records = Request(netd_->socket(), "GET", "/v1/audit").Json()["records"];
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["caller"]["uid"], kNobody);
  EXPECT_EQ(records[0]["caller"]["gid"], kAdminGroup);
}

TEST_F(ApiRoles, OthersCannotConnectAndWithoutARoleGet403) {
  std::vector<gid_t> other = {kOtherGroup};
  EXPECT_EQ(StatusAs(netd_->socket(), other, "GET", "/v1/status"), -1000 - EACCES);
  // Even with the file mode opened up, a caller without a role is refused, and a refused
  // mutation is audited.
  std::filesystem::permissions(netd_->socket(), std::filesystem::perms(0666));
  EXPECT_EQ(StatusAs(netd_->socket(), other, "GET", "/v1/status"), 403);
  EXPECT_EQ(StatusAs(netd_->socket(), other, "PUT", "/v1/vms/vm1", R"({"network":"secure"})"), 403);
  auto records = Request(netd_->socket(), "GET", "/v1/audit").Json()["records"];
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["result"], "refused");
  EXPECT_EQ(records[0]["error_code"], "forbidden");
  EXPECT_EQ(Request(netd_->socket(), "GET", "/v1/vms").Json()["vms"].size(), 0u);
}

}  // namespace
}  // namespace netd::testing
