#include "nft_batch.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>

#include "netd/firewall/packet_filter.hpp"
#include "netlink_replies.hpp"
#include "nft_objects.hpp"

namespace netd::firewall {
namespace {

// Sequence numbers only need to be unique among this process's messages in flight.
std::atomic<std::uint32_t> next_sequence{
    static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count())};

constexpr int kReceiveBufferBytes = 16 * 1024 * 1024;

}  // namespace

const nlattr* FindAttribute(const nlmsghdr* header, std::size_t family_bytes, std::uint16_t type) {
  if (mnl_nlmsg_get_payload_len(header) < MNL_ALIGN(family_bytes)) return nullptr;
  const auto* start =
      static_cast<const char*>(mnl_nlmsg_get_payload(header)) + MNL_ALIGN(family_bytes);
  const auto* end = reinterpret_cast<const char*>(header) + header->nlmsg_len;
  for (const auto* attribute = reinterpret_cast<const nlattr*>(start);
       mnl_attr_ok(attribute, static_cast<int>(end - reinterpret_cast<const char*>(attribute)));
       attribute = mnl_attr_next(attribute)) {
    if (mnl_attr_get_type(attribute) == type) return attribute;
  }
  return nullptr;
}

NftError::NftError(std::string object, int error_number, std::string kernel_message)
    : std::runtime_error(fmt::format("the kernel refused {}: {}{}", object,
                                     std::strerror(error_number),
                                     kernel_message.empty() ? "" : " (" + kernel_message + ")")),
      object_(std::move(object)),
      error_number_(error_number),
      kernel_message_(std::move(kernel_message)) {}

NftBatch::NftBatch() : first_sequence_(next_sequence.fetch_add(1 << 20)) {
  buffer_.resize(kMaxMessageBytes);
  auto* header = nftnl_batch_begin(buffer_.data(), first_sequence_ - 1);
  used_ = NLMSG_ALIGN(header->nlmsg_len);
}

void NftBatch::Add(std::string label, const MessageBuilder& build) {
  assert(!finished_);
  buffer_.resize(used_ + kMaxMessageBytes);
  auto sequence = first_sequence_ + static_cast<std::uint32_t>(labels_.size());
  auto* header = build(buffer_.data() + used_, sequence);
  assert(header->nlmsg_len <= kMaxMessageBytes);
  header->nlmsg_flags |= NLM_F_ACK;
  used_ += NLMSG_ALIGN(header->nlmsg_len);
  labels_.push_back(std::move(label));
}

const std::vector<char>& NftBatch::Finish() {
  if (!finished_) {
    buffer_.resize(used_ + kMaxMessageBytes);
    auto sequence = first_sequence_ + static_cast<std::uint32_t>(labels_.size());
    auto* header = nftnl_batch_end(buffer_.data() + used_, sequence);
    used_ += NLMSG_ALIGN(header->nlmsg_len);
    buffer_.resize(used_);
    finished_ = true;
  }
  return buffer_;
}

NftSocket::NftSocket() {
  socket_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!socket_) throw std::system_error(errno, std::generic_category(), "nftables netlink socket");
  if (mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) < 0) {
    int error = errno;
    mnl_socket_close(socket_);
    throw std::system_error(error, std::generic_category(), "nftables netlink bind");
  }
  int on = 1;
  // Errors carry only the refused message's header, plus the kernel's explanation.
  mnl_socket_setsockopt(socket_, NETLINK_CAP_ACK, &on, sizeof(on));
  mnl_socket_setsockopt(socket_, NETLINK_EXT_ACK, &on, sizeof(on));
  int receive = kReceiveBufferBytes;
  setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_RCVBUFFORCE, &receive, sizeof(receive));
}

NftSocket::~NftSocket() {
  mnl_socket_close(socket_);
}

void NftSocket::Commit(NftBatch& batch) {
  if (batch.empty()) return;
  const auto& bytes = batch.Finish();
  // The kernel takes a transaction only whole, in one sendmsg: the send buffer must hold it.
  if (bytes.size() + 4096 > send_buffer_bytes_) {
    int size = static_cast<int>(bytes.size() + 65536);
    if (setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) ==
        0) {
      send_buffer_bytes_ = static_cast<std::size_t>(size);
    }
  }
  if (mnl_socket_sendto(socket_, bytes.data(), bytes.size()) < 0) {
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("sending a {}-byte nftables transaction", bytes.size()));
  }
  // The kernel processes the transaction inside sendmsg: every answer is queued by now.
  std::vector<char> receive(1 << 16);
  netlink::TransactionAcks acks{.begin_sequence = batch.first_sequence_ - 1,
                                .messages = batch.labels_.size()};
  while (acks.answered < batch.labels_.size()) {
    auto length = recv(mnl_socket_get_fd(socket_), receive.data(), receive.size(), MSG_DONTWAIT);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      throw std::system_error(errno, std::generic_category(), "reading nftables acknowledgements");
    }
    netlink::ReadTransactionAcks({receive.data(), static_cast<std::size_t>(length)}, acks);
  }
  if (const auto& refusal = acks.first_refusal) {
    throw NftError(
        refusal->index >= 1 ? batch.labels_[refusal->index - 1] : std::string("the transaction"),
        refusal->error, refusal->kernel_message);
  }
  if (acks.answered < batch.labels_.size()) {
    throw std::runtime_error(
        fmt::format("nftables answered {} of {} messages of a transaction; its outcome is unknown",
                    acks.answered, batch.labels_.size()));
  }
}

std::uint32_t NftSocket::Generation() {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  auto sequence = next_sequence.fetch_add(1);
  auto* request =
      nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETGEN, NFPROTO_UNSPEC, NLM_F_ACK, sequence);
  if (mnl_socket_sendto(socket_, request, request->nlmsg_len) < 0) {
    throw std::system_error(errno, std::generic_category(), "asking nftables for its generation");
  }
  netlink::GenerationAnswer answer;
  while (!answer.done) {
    auto length = mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
    if (length < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "reading the nftables generation");
    }
    netlink::ReadGenerationAnswer({buffer.data(), static_cast<std::size_t>(length)}, sequence,
                                  answer);
  }
  if (answer.error != 0) {
    throw std::system_error(answer.error, std::generic_category(),
                            "asking nftables for its generation");
  }
  if (!answer.generation)
    throw std::runtime_error("nftables acknowledged GETGEN without an answer");
  return *answer.generation;
}

std::vector<NftSocket::ListedElement> NftSocket::ListSetElements(const char* table,
                                                                 const char* set_name) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  auto sequence = next_sequence.fetch_add(1);
  auto* request = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_GETSETELEM, NFPROTO_INET,
                                        NLM_F_DUMP | NLM_F_ACK, sequence);
  {
    SetPtr set(nftnl_set_alloc());
    if (!set) throw std::bad_alloc();
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, table);
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, set_name);
    nftnl_set_elems_nlmsg_build_payload(request, set.get());
  }
  auto what = fmt::format("listing set {} of table inet {}", set_name, table);
  if (mnl_socket_sendto(socket_, request, request->nlmsg_len) < 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
  netlink::SetElementsDump dump;
  while (!dump.done) {
    auto length = mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
    if (length < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), what);
    }
    netlink::ReadSetElements({buffer.data(), static_cast<std::size_t>(length)}, sequence, dump);
  }
  if (dump.error != 0) throw std::system_error(dump.error, std::generic_category(), what);
  if (dump.malformed) throw std::runtime_error(what + ": cannot parse the kernel's answer");
  return std::move(dump.elements);
}

}  // namespace netd::firewall
