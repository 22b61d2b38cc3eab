#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "netd/testing/scripted_peer.hpp"

// What the targets that play a peer of netd's clients (a switch, an ovsdb-server) share.
namespace netd::fuzz {

// A unix socket path `name` in a directory of the process's own, removed when it exits.
inline std::filesystem::path PeerSocketPath(const char* name) {
  static std::filesystem::path directory = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "netd-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(directory, ignored);
    });
    return std::filesystem::path(pattern);
  }();
  return directory / name;
}

// The peer listening on PeerSocketPath(name), one per process: each input accepts a new
// connection on it.
inline testing::ScriptedPeer& PeerAt(const char* name) {
  static testing::ScriptedPeer peer(PeerSocketPath(name));
  return peer;
}

// Reads what the client sent so far, without waiting for more.
inline void DrainClient(testing::ScriptedPeer& peer) {
  while (peer.BytesWaiting() > 0) peer.ReadSome(1 << 16);
}

// Turns `io` one handler at a time until `check` holds; false when it does not within 2 s (a
// client that stopped doing what the script waits for).
template <typename Check>
bool TurnUntil(boost::asio::io_context& io, Check check) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!check()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace netd::fuzz
