#include "netd/ovs/openflow_client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace netd::ovs {

namespace of = openflow;

OpenFlowClient::OpenFlowClient(boost::asio::io_context& io, std::filesystem::path socket,
                               Options options)
    : io_(io),
      socket_path_(std::move(socket)),
      options_(options),
      socket_(io),
      reconnect_timer_(io),
      backoff_(options.min_backoff) {}

OpenFlowClient::OpenFlowClient(boost::asio::io_context& io, std::filesystem::path socket)
    : OpenFlowClient(io, std::move(socket), Options{}) {}

OpenFlowClient::~OpenFlowClient() {
  on_ready_ = nullptr;
  on_lost_ = nullptr;
  batches_.clear();
  counts_.clear();
  *alive_ = false;
  Stop();
}

void OpenFlowClient::Start() {
  running_ = true;
  Connect();
}

void OpenFlowClient::Stop() {
  running_ = false;
  reconnect_timer_.cancel();
  if (connected_) Lost("stopped");
}

void OpenFlowClient::Connect() {
  auto generation = ++generation_;
  std::weak_ptr<bool> alive = alive_;
  socket_ = boost::asio::local::stream_protocol::socket(io_);
  socket_.async_connect(socket_path_.string(), [this, alive, generation](auto error) {
    if (!alive.lock() || generation != generation_ || !running_) return;
    if (error) {
      Lost(fmt::format("cannot connect: {}", error.message()));
      return;
    }
    connected_ = true;
    inbox_.clear();
    outbox_.clear();
    writing_.clear();
    Read();
    Queue(of::EncodeHello(next_xid_++));
  });
}

void OpenFlowClient::Read() {
  std::weak_ptr<bool> alive = alive_;
  auto generation = generation_;
  socket_.async_read_some(
      boost::asio::buffer(read_buffer_), [this, alive, generation](auto error, std::size_t n) {
        if (!alive.lock() || generation != generation_ || !connected_) return;
        if (error) {
          Lost(error == boost::asio::error::eof ? "ovs-vswitchd closed the connection"
                                                : "reading: " + error.message());
          return;
        }
        inbox_.insert(inbox_.end(), read_buffer_.begin(), read_buffer_.begin() + n);
        std::size_t offset = 0;
        while (inbox_.size() - offset >= of::kHeaderSize) {
          auto header = of::ParseHeader(std::span(inbox_).subspan(offset));
          if (header.length < of::kHeaderSize) {
            Lost(fmt::format("a message of length {}", header.length));
            return;
          }
          if (inbox_.size() - offset < header.length) break;
          if (!Handle(std::span(inbox_).subspan(offset, header.length))) return;
          if (generation != generation_ || !connected_) return;
          offset += header.length;
        }
        inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(offset));
        Read();
      });
}

// False when the connection was given up.
bool OpenFlowClient::Handle(std::span<const std::uint8_t> message) {
  auto header = of::ParseHeader(message);
  switch (static_cast<of::MessageType>(header.type)) {
    case of::MessageType::kHello:
      if (header.version < of::kVersion) {
        Lost(
            fmt::format("the switch speaks OpenFlow version {:#04x} at most, netd needs 1.3 "
                        "(Bridge protocols)",
                        header.version));
        return false;
      }
      if (!ready_) {
        ready_ = true;
        backoff_ = options_.min_backoff;
        ++counters_.connects;
        last_failure_.clear();
        spdlog::info("openflow: connected to {}", socket_path_.string());
        if (on_ready_) on_ready_();
      }
      return true;
    case of::MessageType::kEchoRequest:
      ++counters_.echoes;
      Queue(of::EncodeEchoReply(header, message.subspan(of::kHeaderSize)));
      return true;
    case of::MessageType::kError: {
      ++counters_.errors;
      auto error = of::ParseError(message);
      if (!error) {
        Lost("a truncated error message");
        return false;
      }
      if (error->type == 0) {  // OFPET_HELLO_FAILED
        Lost("the switch refused the hello: " + of::Describe(*error));
        return false;
      }
      // The batch whose xid range holds the failed message's xid.
      auto it = batches_.upper_bound(header.xid);
      if (it != batches_.end() && header.xid >= it->second.first_xid) {
        it->second.result.refused.emplace_back(header.xid - it->second.first_xid, *error);
      } else {
        spdlog::warn("openflow: {}: error {} for xid {} of no batch", socket_path_.string(),
                     of::Describe(*error), header.xid);
      }
      return true;
    }
    case of::MessageType::kMultipartReply: {
      auto it = counts_.find(header.xid);
      if (it == counts_.end()) return true;
      auto done = std::move(it->second);
      counts_.erase(it);
      if (done) done(of::ParseFlowCountReply(message));
      return true;
    }
    case of::MessageType::kBarrierReply: {
      auto it = batches_.find(header.xid);
      if (it == batches_.end()) return true;
      auto batch = std::move(it->second);
      batches_.erase(it);
      if (batch.done) batch.done(batch.result);
      return true;
    }
    default:
      return true;  // e.g. port status, which netd learns from OVSDB instead
  }
}

void OpenFlowClient::Send(const std::vector<FlowChange>& changes, BatchCallback done) {
  if (!ready_) {
    std::weak_ptr<bool> alive = alive_;
    boost::asio::post(io_, [alive, done = std::move(done)] {
      if (alive.lock() && done) done(BatchResult{{}, "not connected"});
    });
    return;
  }
  Batch batch;
  batch.first_xid = next_xid_;
  batch.size = changes.size();
  batch.done = std::move(done);
  for (const auto& change : changes) {
    auto xid = next_xid_++;
    if (change.kind == FlowChange::Kind::kAdd) {
      Queue(of::EncodeAddFlow(xid, change.flow, change.cookie));
    } else {
      Queue(of::EncodeDeleteFlows(xid, change.cookie, change.mask));
    }
  }
  counters_.flow_mods += changes.size();
  ++counters_.barriers;
  auto barrier = next_xid_++;
  Queue(of::EncodeBarrierRequest(barrier));
  batches_.emplace(barrier, std::move(batch));
}

void OpenFlowClient::CountFlows(std::uint64_t cookie, std::uint64_t mask, CountCallback done) {
  if (!ready_) {
    std::weak_ptr<bool> alive = alive_;
    boost::asio::post(io_, [alive, done = std::move(done)] {
      if (alive.lock() && done) done(std::nullopt);
    });
    return;
  }
  auto xid = next_xid_++;
  counts_.emplace(xid, std::move(done));
  Queue(of::EncodeFlowCountRequest(xid, cookie, mask));
}

void OpenFlowClient::Queue(std::vector<std::uint8_t> message) {
  outbox_.insert(outbox_.end(), message.begin(), message.end());
  if (writing_.empty()) WriteNext();
}

void OpenFlowClient::WriteNext() {
  if (outbox_.empty() || !connected_) return;
  writing_.swap(outbox_);
  outbox_.clear();
  std::weak_ptr<bool> alive = alive_;
  auto generation = generation_;
  boost::asio::async_write(socket_, boost::asio::buffer(writing_),
                           [this, alive, generation](auto error, std::size_t) {
                             if (!alive.lock() || generation != generation_ || !connected_) return;
                             writing_.clear();
                             if (error) {
                               Lost("writing: " + error.message());
                               return;
                             }
                             WriteNext();
                           });
}

void OpenFlowClient::Lost(const std::string& why) {
  bool was_ready = ready_;
  if (connected_) {
    ++counters_.disconnects;
    boost::system::error_code ignored;
    socket_.close(ignored);
  }
  connected_ = false;
  ready_ = false;
  ++generation_;
  auto batches = std::move(batches_);
  batches_.clear();
  auto counts = std::move(counts_);
  counts_.clear();
  outbox_.clear();
  writing_.clear();
  if (running_ && (was_ready || why != last_failure_)) {
    spdlog::warn("openflow: {}: {}; retrying in {} ms", socket_path_.string(), why,
                 backoff_.count());
  }
  last_failure_ = why;
  std::weak_ptr<bool> alive = alive_;
  for (auto& [xid, batch] : batches) {
    if (batch.done) batch.done(BatchResult{{}, "connection lost: " + why});
    if (!alive.lock()) return;
  }
  for (auto& [xid, done] : counts) {
    if (done) done(std::nullopt);
    if (!alive.lock()) return;
  }
  if (was_ready && on_lost_) on_lost_();
  if (!running_ || !alive.lock()) return;
  reconnect_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  reconnect_timer_.async_wait([this, alive](auto error) {
    if (error || !alive.lock() || !running_) return;
    Connect();
  });
}

}  // namespace netd::ovs
