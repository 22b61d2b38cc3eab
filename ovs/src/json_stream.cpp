#include "netd/ovs/json_stream.hpp"

namespace netd::ovs {

std::vector<std::string> JsonStreamSplitter::Feed(std::string_view bytes) {
  std::vector<std::string> complete;
  for (char c : bytes) {
    if (depth_ == 0 && !in_string_) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{' && c != '[') {
        throw std::runtime_error(std::string("JSON-RPC stream: unexpected '") + c +
                                 "' between messages");
      }
    }
    pending_ += c;
    if (pending_.size() > max_message_bytes_) {
      throw std::runtime_error("JSON-RPC stream: a message longer than " +
                               std::to_string(max_message_bytes_) + " bytes");
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        complete.push_back(std::move(pending_));
        pending_.clear();
      }
    }
  }
  return complete;
}

}  // namespace netd::ovs
