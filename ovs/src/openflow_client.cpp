#include "netd/ovs/openflow_client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "reconnecting_stream.hpp"

namespace netd::ovs {

namespace of = openflow;

namespace {

// A request made while not connected is answered with `answer` on the loop, never sent;
// nothing is called if the client is gone by then.
template <typename Callback, typename Answer>
void AnswerUnsent(boost::asio::io_context& io, const std::shared_ptr<bool>& alive, Callback done,
                  Answer answer) {
  std::weak_ptr<bool> still = alive;
  boost::asio::post(io, [still, done = std::move(done), answer = std::move(answer)] {
    if (still.lock() && done) done(answer);
  });
}

}  // namespace

OpenFlowClient::OpenFlowClient(boost::asio::io_context& io, std::filesystem::path socket,
                               Options options)
    : io_(io) {
  stream_ = std::make_unique<ReconnectingStream>(
      io, std::vector<Remote>{Remote::Unix(std::move(socket))}, TlsFiles{},
      ReconnectingStream::Options{
          .peer = "ovs-vswitchd",
          .min_backoff = options.min_backoff,
          .max_backoff = options.max_backoff,
          .inactivity_probe = options.inactivity_probe,
          .request_timeout = options.request_timeout,
          .max_unwritten = options.max_unwritten,
      },
      ReconnectingStream::Handlers{
          .connected = [this] { OnConnected(); },
          .received = [this](std::string_view bytes) { OnReceived(bytes); },
          .lost = [this](const std::string& why,
                         bool was_connected) { OnLost(why, was_connected); },
          .probe = [this] { Queue(of::EncodeEchoRequest(next_xid_++)); },
      });
}

OpenFlowClient::OpenFlowClient(boost::asio::io_context& io, std::filesystem::path socket)
    : OpenFlowClient(io, std::move(socket), Options{}) {}

OpenFlowClient::~OpenFlowClient() {
  on_ready_ = nullptr;
  on_lost_ = nullptr;
  batches_.clear();
  counts_.clear();
  port_requests_.clear();
  *alive_ = false;
  Stop();
}

void OpenFlowClient::Start() {
  stream_->Start();
}

void OpenFlowClient::Stop() {
  stream_->Stop();
}

std::string OpenFlowClient::path() const {
  return stream_->remote().path.string();
}

void OpenFlowClient::OnConnected() {
  inbox_.clear();
  Queue(of::EncodeHello(next_xid_++));
}

void OpenFlowClient::OnReceived(std::string_view bytes) {
  inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
  std::size_t offset = 0;
  while (inbox_.size() - offset >= of::kHeaderSize) {
    auto header = of::ParseHeader(std::span(inbox_).subspan(offset));
    if (header.length < of::kHeaderSize) {
      stream_->Drop(fmt::format("a message of length {}", header.length));
      return;
    }
    if (inbox_.size() - offset < header.length) break;
    if (!Handle(std::span(inbox_).subspan(offset, header.length))) return;
    if (!stream_->connected()) return;
    offset += header.length;
  }
  inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(offset));
}

// False when the connection was given up.
bool OpenFlowClient::Handle(std::span<const std::uint8_t> message) {
  auto header = of::ParseHeader(message);
  switch (static_cast<of::MessageType>(header.type)) {
    case of::MessageType::kHello:
      if (header.version < of::kVersion) {
        stream_->Drop(
            fmt::format("the switch speaks OpenFlow version {:#04x} at most, netd needs 1.3 "
                        "(Bridge protocols)",
                        header.version));
        return false;
      }
      if (!ready_) {
        ready_ = true;
        stream_->ResetBackoff();
        ++counters_.connects;
        last_failure_.clear();
        spdlog::info("openflow: connected to {}", path());
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
        stream_->Drop("a truncated error message");
        return false;
      }
      if (error->type == 0) {  // OFPET_HELLO_FAILED
        stream_->Drop("the switch refused the hello: " + of::Describe(*error));
        return false;
      }
      // The batch whose xid range holds the failed message's xid.
      auto it = batches_.upper_bound(header.xid);
      if (it != batches_.end() && header.xid >= it->second.first_xid) {
        it->second.result.refused.emplace_back(header.xid - it->second.first_xid, *error);
      } else {
        spdlog::warn("openflow: {}: error {} for xid {} of no batch", path(), of::Describe(*error),
                     header.xid);
      }
      return true;
    }
    case of::MessageType::kMultipartReply: {
      if (auto it = counts_.find(header.xid); it != counts_.end()) {
        stream_->Answered(header.xid);
        auto done = std::move(it->second);
        counts_.erase(it);
        if (done) done(of::ParseAggregateReply(message));
        return true;
      }
      auto it = port_requests_.find(header.xid);
      if (it == port_requests_.end()) return true;
      auto reply = of::ParsePortDescriptionReply(message);
      if (reply) {
        auto& ports = it->second.ports;
        ports.insert(ports.end(), reply->ports.begin(), reply->ports.end());
        if (reply->more) return true;
      }
      stream_->Answered(header.xid);
      auto request = std::move(it->second);
      port_requests_.erase(it);
      if (!request.done) return true;
      if (reply) {
        request.done(std::move(request.ports));
      } else {
        request.done(std::nullopt);
      }
      return true;
    }
    case of::MessageType::kBarrierReply: {
      stream_->Answered(header.xid);
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
    AnswerUnsent(io_, alive_, std::move(done), BatchResult{{}, "not connected"});
    return;
  }
  Batch batch;
  batch.first_xid = next_xid_;
  batch.size = changes.size();
  batch.done = std::move(done);
  for (const auto& change : changes) {
    auto xid = next_xid_++;
    switch (change.kind) {
      case FlowChange::Kind::kAdd:
        Queue(of::EncodeAddFlow(xid, change.flow, change.cookie));
        break;
      case FlowChange::Kind::kDelete:
        Queue(of::EncodeDeleteFlows(xid, change.cookie, change.mask));
        break;
      case FlowChange::Kind::kDeleteFlow:
        Queue(of::EncodeDeleteFlow(xid, change.flow, change.cookie));
        break;
      case FlowChange::Kind::kPortConfig:
        Queue(of::EncodePortMod(xid, change.port));
        break;
    }
  }
  counters_.flow_mods += changes.size();
  ++counters_.barriers;
  auto barrier = next_xid_++;
  Queue(of::EncodeBarrierRequest(barrier));
  stream_->Awaiting(barrier);
  batches_.emplace(barrier, std::move(batch));
}

void OpenFlowClient::CountFlows(std::uint64_t cookie, std::uint64_t mask, CountCallback done) {
  if (!ready_) {
    AnswerUnsent(io_, alive_, std::move(done), std::nullopt);
    return;
  }
  auto xid = next_xid_++;
  counts_.emplace(xid, std::move(done));
  Queue(of::EncodeFlowCountRequest(xid, cookie, mask));
  stream_->Awaiting(xid);
}

void OpenFlowClient::DescribePorts(PortsCallback done) {
  if (!ready_) {
    AnswerUnsent(io_, alive_, std::move(done), std::nullopt);
    return;
  }
  auto xid = next_xid_++;
  port_requests_.emplace(xid, PortsRequest{{}, std::move(done)});
  Queue(of::EncodePortDescriptionRequest(xid));
  stream_->Awaiting(xid);
}

void OpenFlowClient::Queue(const std::vector<std::uint8_t>& message) {
  stream_->Write(std::string_view(reinterpret_cast<const char*>(message.data()), message.size()));
}

void OpenFlowClient::OnLost(const std::string& why, bool was_connected) {
  bool was_ready = ready_;
  if (was_connected) ++counters_.disconnects;
  counters_.probe_timeouts = stream_->counters().probe_timeouts;
  counters_.request_timeouts = stream_->counters().request_timeouts;
  counters_.overflows = stream_->counters().overflows;
  ready_ = false;
  auto batches = std::move(batches_);
  batches_.clear();
  auto counts = std::move(counts_);
  counts_.clear();
  auto port_requests = std::move(port_requests_);
  port_requests_.clear();
  if (stream_->running() && (was_ready || why != last_failure_)) {
    spdlog::warn("openflow: {}: {}; retrying in {} ms", path(), why,
                 stream_->retry_delay().count());
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
  for (auto& [xid, request] : port_requests) {
    if (request.done) request.done(std::nullopt);
    if (!alive.lock()) return;
  }
  if (was_ready && on_lost_) on_lost_();
}

}  // namespace netd::ovs
