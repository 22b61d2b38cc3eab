#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "netd/common/address.hpp"

namespace netd {

// A request a library refuses, in its own terms: what() is the message for people, code() a
// stable machine-readable code ("invalid_destination"), field() the request field it names
// ("destinations[2]"). The control API decides the answer's status.
class FieldError : public std::invalid_argument {
 public:
  FieldError(std::string code, std::string field, const std::string& message)
      : std::invalid_argument(message), code_(std::move(code)), field_(std::move(field)) {}

  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }

 private:
  std::string code_;
  std::string field_;
};

// One of the enclave's networks, by name: nothing is routed between them, and a request that
// names an address inside one where an outside address belongs is refused naming it.
struct EnclaveNetwork {
  std::string name;
  Ipv4Cidr cidr;
};

}  // namespace netd
