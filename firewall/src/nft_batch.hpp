#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct mnl_socket;
struct nlattr;
struct nlmsghdr;

namespace netd::firewall {

// The first top-level attribute of `type` in a message whose family header is `family_bytes`
// long; nullptr if there is none, or the message is shorter than that header.
const nlattr* FindAttribute(const nlmsghdr* header, std::size_t family_bytes, std::uint16_t type);

// One nfnetlink transaction being assembled: BEGIN, messages, END. Every message asks for an
// ACK and carries a label naming the object it creates or deletes, so a kernel refusal can
// be reported against that object.
class NftBatch {
 public:
  NftBatch();

  // Appends one message. `build` receives the start of a free region of at least
  // kMaxMessageBytes and must return the header it wrote there (nftnl_nlmsg_build_hdr).
  using MessageBuilder = std::function<nlmsghdr*(char* buffer, std::uint32_t sequence)>;
  void Add(std::string label, const MessageBuilder& build);

  std::size_t messages() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }

  static constexpr std::size_t kMaxMessageBytes = 256 * 1024;

 private:
  friend class NftSocket;
  // Closes the batch (END) and returns the bytes to send.
  const std::vector<char>& Finish();

  std::vector<char> buffer_;
  std::size_t used_ = 0;
  std::uint32_t first_sequence_ = 0;
  std::vector<std::string> labels_;
  bool finished_ = false;
};

// A netlink socket for nf_tables in the calling thread's network namespace.
class NftSocket {
 public:
  NftSocket();
  ~NftSocket();
  NftSocket(const NftSocket&) = delete;
  NftSocket& operator=(const NftSocket&) = delete;

  // Sends the batch in one message and drains every ACK. On refusal the kernel aborts the
  // whole transaction; throws NftError naming the first refused object with the kernel's
  // reason (extended ACK text when there is one).
  void Commit(NftBatch& batch);

  // The ruleset's generation: the kernel adds one with every committed transaction.
  std::uint32_t Generation();

  // The elements of set `set` of table inet `table`: key bytes and, for an element with a
  // timeout, the milliseconds it has left. Empty when the table or set does not exist.
  struct ListedElement {
    std::vector<std::uint8_t> key;
    std::optional<std::uint64_t> expires_in_ms;
  };
  std::vector<ListedElement> ListSetElements(const char* table, const char* set);

 private:
  mnl_socket* socket_ = nullptr;
  std::size_t send_buffer_bytes_ = 0;
};

}  // namespace netd::firewall
