#include "netd/daemon/audit_anchors.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace netd {

AuditAnchorWriter::AuditAnchorWriter(boost::asio::io_context& io, AuditChain& chain,
                                     std::filesystem::path file, std::chrono::milliseconds interval)
    : chain_(chain), file_(std::move(file)), interval_(interval), timer_(io) {
  chain_.set_on_append([this] { Appended(); });
}

AuditAnchorWriter::~AuditAnchorWriter() {
  chain_.set_on_append(nullptr);
}

std::vector<AuditAnchor> AuditAnchorWriter::Anchors() const {
  std::ifstream in(file_);
  if (!in) {
    if (errno == ENOENT) return {};
    throw std::runtime_error(
        fmt::format("cannot read the anchor file {}: {}", file_.string(), std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    return ParseAnchors(text.str());
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(fmt::format("the anchor file {}: {}", file_.string(), error.what()));
  }
}

void AuditAnchorWriter::Start() {
  std::vector<AuditAnchor> anchors;
  try {
    anchors = Anchors();
  } catch (const std::runtime_error& error) {
    ++failures_;
    spdlog::error("audit: {}", error.what());
    return;
  }
  auto head = chain_.Head();
  if (!anchors.empty()) {
    const auto& last = anchors.back();
    // One record read, not the whole chain hashed: start-up waits for this.
    auto held = chain_.HashOf(last.seq);
    if (held != last.hash) {
      spdlog::error(
          "audit: the chain does not hold the anchor of record {} in {}: {}; it was changed "
          "while netd was stopped",
          last.seq, file_.string(),
          held ? "the record's hash differs" : "the record is not in the store");
    }
    anchored_seq_ = last.seq;
  }
  if (head.seq > 0 && head.seq != anchored_seq_) Write(head);
}

void AuditAnchorWriter::Appended() {
  if (scheduled_) return;
  scheduled_ = true;
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (error) return;
    scheduled_ = false;
    Flush();
  });
}

void AuditAnchorWriter::Flush() {
  auto head = chain_.Head();
  if (head.seq > 0 && head.seq != anchored_seq_) Write(head);
}

void AuditAnchorWriter::Write(const AuditAnchor& anchor) {
  auto line = FormatAnchor(anchor) + "\n";
  int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  bool ok = fd >= 0;
  if (ok) {
    // One write of a short line with O_APPEND: whole or not at all for a reader.
    ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
         ::fdatasync(fd) == 0;
    int error = errno;
    ::close(fd);
    errno = error;
  }
  // The copy that leaves the host whatever happened to the file.
  ::syslog(LOG_AUTHPRIV | LOG_NOTICE, "netd audit anchor %s", FormatAnchor(anchor).c_str());
  if (!ok) {
    ++failures_;
    spdlog::error("audit: cannot append the anchor of record {} to {}: {}", anchor.seq,
                  file_.string(), std::strerror(errno));
    return;
  }
  anchored_seq_ = anchor.seq;
  ++written_;
  spdlog::info("audit: anchored record {} hash={} in {}", anchor.seq, anchor.hash, file_.string());
}

}  // namespace netd
