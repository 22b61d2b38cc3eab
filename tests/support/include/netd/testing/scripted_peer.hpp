#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

namespace netd::testing {

// The far end of one unix stream connection, played by the test itself (a scripted
// ovsdb-server or switch): it listens on `path`, and each call blocks on the connection, so a
// test interleaves it with turns of the client's loop. A call that waits for the client gives up
// after 10 s (std::runtime_error), so a client that never does what the script expects fails
// the test instead of hanging it.
class ScriptedPeer {
 public:
  explicit ScriptedPeer(const std::filesystem::path& path);
  ~ScriptedPeer();
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;

  // Whether a client has connected and waits to be accepted.
  bool ConnectionWaiting() const;
  // Accepts the next connection (a connection still open is closed first).
  void Accept();
  // How many bytes the client sent that are waiting to be read (FIONREAD): a test that turns
  // the client's loop on the script's own thread turns it until they are there, since a read
  // that blocks first would keep the client from ever writing them.
  std::size_t BytesWaiting() const;
  // Some bytes the client sent (at most `limit`); throws when it closed the connection.
  std::vector<char> ReadSome(std::size_t limit = 4096);
  // Appends exactly `count` bytes the client sent to `bytes`.
  void ReadExactly(std::size_t count, std::vector<char>& bytes);
  void Write(std::string_view bytes);
  // How many bytes written the client has not read yet (the kernel's count, SIOCOUTQ): a test
  // that writes a message in parts waits for 0 between them, so the client reads each part on
  // its own instead of the whole in one read. Callable from another thread than the writer's.
  std::size_t BytesUnread() const;
  // Closes the connection, as a crashing server would.
  void Drop();
  // Waits until the client closed the connection, discarding what it sent meanwhile.
  void WaitUntilClosed();

 private:
  int listener_ = -1;
  int connection_ = -1;
};

}  // namespace netd::testing
