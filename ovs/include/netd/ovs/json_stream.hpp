#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace netd::ovs {

// OVSDB's JSON-RPC (RFC 7047) sends JSON texts back to back with no delimiter. This cuts a
// byte stream into whole texts, however the reads split them: it tracks nesting and strings
// (with their escapes) and returns each top-level object or array once its last byte is in.
class JsonStreamSplitter {
 public:
  explicit JsonStreamSplitter(std::size_t max_message_bytes = 64 << 20)
      : max_message_bytes_(max_message_bytes) {}

  // The texts completed by `bytes`. Throws std::runtime_error on a stream that cannot be
  // JSON-RPC (a top-level scalar, a closing bracket too many, a text over the limit); the
  // connection is then beyond repair.
  std::vector<std::string> Feed(std::string_view bytes);

 private:
  std::size_t max_message_bytes_;
  std::string pending_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace netd::ovs
