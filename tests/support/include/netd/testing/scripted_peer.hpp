#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

namespace netd::testing {

// The far end of one unix stream connection, played by the test itself (a scripted
// ovsdb-server or switch): it listens on `path`, and each call blocks on the connection, so a
// test interleaves it with turns of the client's loop.
class ScriptedPeer {
 public:
  explicit ScriptedPeer(const std::filesystem::path& path);
  ~ScriptedPeer();
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;

  void Accept();
  // Some bytes the client sent (at most `limit`); throws when it closed the connection.
  std::vector<char> ReadSome(std::size_t limit = 4096);
  // Appends exactly `count` bytes the client sent to `bytes`.
  void ReadExactly(std::size_t count, std::vector<char>& bytes);
  void Write(std::string_view bytes);
  // Closes the connection, as a crashing server would.
  void Drop();

 private:
  int listener_ = -1;
  int connection_ = -1;
};

}  // namespace netd::testing
