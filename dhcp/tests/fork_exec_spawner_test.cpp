#include "netd/dhcp/fork_exec_spawner.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <csignal>
#include <fstream>
#include <iterator>

#include "netd/lab/temp_dir.hpp"

namespace netd::dhcp {
namespace {

class ForkExecSpawnerTest : public ::testing::Test {
 protected:
  ProcessCommand Shell(const char* script) const {
    return {{"sh", "-c", script}, dir_.path() / "output"};
  }

  lab::TempDir dir_{"spawner"};
  boost::asio::io_context io_;
  ForkExecSpawner spawner_{io_};
};

TEST_F(ForkExecSpawnerTest, RunWaitsForTheExitStatusAndAppendsTheOutput) {
  EXPECT_TRUE(spawner_.Run(Shell("echo first")).succeeded());
  auto exit = spawner_.Run(Shell("echo second >&2; exit 3"));
  EXPECT_EQ(exit.exit_status, 3);
  EXPECT_EQ(exit.Describe(), "exit status 3");
  std::ifstream output(dir_.path() / "output");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(output), {}), "first\nsecond\n");
}

TEST_F(ForkExecSpawnerTest, AChildsEndIsReportedOnTheLoop) {
  std::optional<ProcessExit> exit;
  auto child = spawner_.Spawn(Shell("kill -KILL $$"), [&](ProcessExit ended) { exit = ended; });
  io_.run();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_EQ(exit->Describe(), "signal 9");
  EXPECT_FALSE(child->Signal(SIGHUP));
}

TEST_F(ForkExecSpawnerTest, DestroyingTheHandleEndsAndReapsTheChild) {
  bool reported = false;
  auto child = spawner_.Spawn(Shell("exec sleep 60"), [&](ProcessExit) { reported = true; });
  pid_t pid = child->pid();
  EXPECT_TRUE(child->Signal(0));
  child.reset();
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1) << "the child was not reaped";
  io_.run();
  EXPECT_FALSE(reported);
}

}  // namespace
}  // namespace netd::dhcp
