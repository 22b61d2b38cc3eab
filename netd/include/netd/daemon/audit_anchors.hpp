#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "netd/daemon/audit.hpp"

namespace netd {

// Anchors the audit chain outside the store as it grows: at most `interval` after a record is
// committed, the chain's head (seq, hash) is appended to the anchor file (fsynced) and sent to
// syslog (LOG_AUTHPRIV, where remote syslog or journal upload takes it off the host). Whoever
// can edit the store can edit a local file too; the copies off the host are what an operator
// verifies against (`netctl audit verify --anchor FILE`).
class AuditAnchorWriter {
 public:
  AuditAnchorWriter(boost::asio::io_context& io, AuditChain& chain, std::filesystem::path file,
                    std::chrono::milliseconds interval);
  ~AuditAnchorWriter();
  AuditAnchorWriter(const AuditAnchorWriter&) = delete;
  AuditAnchorWriter& operator=(const AuditAnchorWriter&) = delete;

  // Checks the chain against the file's last anchor (records cut, edited or inserted while
  // netd was stopped are logged at error level and fail every verification from then on), then
  // anchors the head if the file does not hold it yet.
  void Start();
  // Anchors the head now if it moved since the last anchor (netd stopping).
  void Flush();

  const std::filesystem::path& file() const { return file_; }
  // The file's anchors; std::runtime_error naming the file when it cannot be read or a line is
  // not an anchor. None when the file does not exist.
  std::vector<AuditAnchor> Anchors() const;
  std::uint64_t written() const { return written_; }
  std::uint64_t failures() const { return failures_; }

 private:
  void Appended();
  void Write(const AuditAnchor& anchor);

  AuditChain& chain_;
  std::filesystem::path file_;
  std::chrono::milliseconds interval_;
  boost::asio::steady_timer timer_;
  bool scheduled_ = false;
  std::int64_t anchored_seq_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t failures_ = 0;
};

}  // namespace netd
