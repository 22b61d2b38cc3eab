#pragma once

// Crafted frames for kernel tests, through tools/frames.py (NETD_FRAMES_TOOL, set by the test's
// target): sent from an interface, and looked for where they should or should not arrive.
#include <chrono>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "netd/lab/command.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/within.hpp"

namespace netd::testing {

// The markers of the frames that reached an interface, from frames.py listening there.
class FrameListener {
 public:
  FrameListener(const lab::Namespace& ns, const std::string& ifname) : dir_("frames") {
    process_ = ns.Start({"/usr/bin/python3", NETD_FRAMES_TOOL, "listen", ifname},
                        {.env = {}, .output = dir_.path() / "seen"});
    if (!Within(std::chrono::seconds(5), [&] { return Lines().contains("ready"); })) {
      throw std::runtime_error("frames.py listen did not start on " + ifname);
    }
  }
  // The markers seen so far.
  std::set<std::string> Seen() const {
    auto lines = Lines();
    lines.erase("ready");
    return lines;
  }

 private:
  std::set<std::string> Lines() const {
    std::ifstream in(dir_.path() / "seen");
    std::set<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.insert(line);
    return lines;
  }

  lab::TempDir dir_;
  lab::Process process_;
};

// frames.py send: a frame of `kind` from `ifname` of `ns`, carrying `marker`; `to` optionally
// holds the destination MAC and address (see frames.py).
inline void SendFrame(const lab::Namespace& ns, const std::string& ifname, const std::string& kind,
                      const std::string& mac, const std::string& ip, const std::string& marker,
                      const std::vector<std::string>& to = {}) {
  std::vector<std::string> argv = {
      "/usr/bin/python3", NETD_FRAMES_TOOL, "send", ifname, kind, mac, ip, marker};
  argv.insert(argv.end(), to.begin(), to.end());
  ns.RunChecked(argv);
}

}  // namespace netd::testing
