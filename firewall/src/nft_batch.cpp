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
#include "nft_objects.hpp"

namespace netd::firewall {
namespace {

// Sequence numbers only need to be unique among this process's messages in flight.
std::atomic<std::uint32_t> next_sequence{
    static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count())};

constexpr int kReceiveBufferBytes = 16 * 1024 * 1024;

}  // namespace

const nlattr* FindAttribute(const nlmsghdr* header, std::size_t family_bytes, std::uint16_t type) {
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

namespace {

std::string ExtendedAckMessage(const nlmsghdr* header) {
  // With NETLINK_CAP_ACK the error carries only the request's header; the TLVs follow it.
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
  std::size_t offset = MNL_ALIGN(sizeof(nlmsgerr));
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += error->msg.nlmsg_len - sizeof(nlmsghdr);
  const auto* message = FindAttribute(header, offset, NLMSGERR_ATTR_MSG);
  return message ? mnl_attr_get_str(message) : std::string();
}

}  // namespace

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
  std::size_t answered = 0;
  std::optional<NftError> first_error;
  while (answered < batch.labels_.size()) {
    auto length = recv(mnl_socket_get_fd(socket_), receive.data(), receive.size(), MSG_DONTWAIT);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      throw std::system_error(errno, std::generic_category(), "reading nftables acknowledgements");
    }
    auto remaining = static_cast<int>(length);
    for (const auto* header = reinterpret_cast<const nlmsghdr*>(receive.data());
         mnl_nlmsg_ok(header, remaining); header = mnl_nlmsg_next(header, &remaining)) {
      if (header->nlmsg_type != NLMSG_ERROR) continue;
      const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
      // Only answers to this transaction (BEGIN is first_sequence_ - 1) count.
      auto index = error->msg.nlmsg_seq - (batch.first_sequence_ - 1);
      if (index > batch.labels_.size()) continue;
      ++answered;
      if (error->error == 0 || first_error) continue;
      std::string object = index >= 1 ? batch.labels_[index - 1] : std::string("the transaction");
      first_error.emplace(std::move(object), -error->error, ExtendedAckMessage(header));
    }
  }
  if (first_error) throw *first_error;
  if (answered < batch.labels_.size()) {
    throw std::runtime_error(
        fmt::format("nftables answered {} of {} messages of a transaction; its outcome is unknown",
                    answered, batch.labels_.size()));
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
  std::optional<std::uint32_t> generation;
  for (;;) {
    auto length = mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
    if (length < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "reading the nftables generation");
    }
    auto remaining = static_cast<int>(length);
    for (const auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data());
         mnl_nlmsg_ok(header, remaining); header = mnl_nlmsg_next(header, &remaining)) {
      if (header->nlmsg_seq != sequence) continue;
      if (header->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
        if (error->error != 0) {
          throw std::system_error(-error->error, std::generic_category(),
                                  "asking nftables for its generation");
        }
        if (!generation) throw std::runtime_error("nftables acknowledged GETGEN without an answer");
        return *generation;
      }
      const auto* attribute = FindAttribute(header, sizeof(nfgenmsg), NFTA_GEN_ID);
      if (attribute && mnl_attr_validate(attribute, MNL_TYPE_U32) == 0) {
        generation = ntohl(mnl_attr_get_u32(attribute));
      }
    }
  }
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
  std::vector<ListedElement> elements;
  for (;;) {
    auto length = mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
    if (length < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), what);
    }
    auto remaining = static_cast<int>(length);
    for (const auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data());
         mnl_nlmsg_ok(header, remaining); header = mnl_nlmsg_next(header, &remaining)) {
      if (header->nlmsg_seq != sequence) continue;
      if (header->nlmsg_type == NLMSG_DONE) return elements;
      if (header->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
        if (error->error == -ENOENT) return {};
        if (error->error != 0) {
          throw std::system_error(-error->error, std::generic_category(), what);
        }
        continue;
      }
      SetPtr set(nftnl_set_alloc());
      if (!set) throw std::bad_alloc();
      if (nftnl_set_elems_nlmsg_parse(header, set.get()) < 0) {
        throw std::runtime_error(what + ": cannot parse the kernel's answer");
      }
      std::unique_ptr<nftnl_set_elems_iter, decltype(&nftnl_set_elems_iter_destroy)> iterator(
          nftnl_set_elems_iter_create(set.get()), &nftnl_set_elems_iter_destroy);
      if (!iterator) throw std::bad_alloc();
      for (auto* element = nftnl_set_elems_iter_next(iterator.get()); element;
           element = nftnl_set_elems_iter_next(iterator.get())) {
        ListedElement listed;
        std::uint32_t key_length = 0;
        const auto* key = static_cast<const std::uint8_t*>(
            nftnl_set_elem_get(element, NFTNL_SET_ELEM_KEY, &key_length));
        if (key) listed.key.assign(key, key + key_length);
        if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_EXPIRATION)) {
          listed.expires_in_ms = nftnl_set_elem_get_u64(element, NFTNL_SET_ELEM_EXPIRATION);
        }
        elements.push_back(std::move(listed));
      }
    }
  }
}

}  // namespace netd::firewall
