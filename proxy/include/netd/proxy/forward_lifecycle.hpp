#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/common/field_error.hpp"
#include "netd/proxy/forward_table.hpp"

namespace netd::proxy {

// The forwards' rules. Forwards serve clients outside every network of the enclave.
struct ForwardOptions {
  std::int64_t default_ttl_s = 3600;  // a forward's life when the caller gives none
  std::int64_t max_ttl_s = 86400;
  std::vector<std::uint16_t> vm_ports{22};  // what a forward may reach in a VM
  std::vector<EnclaveNetwork> enclave_networks;
  // The kernel drops a forward's element this long after its expiry by itself: the backstop
  // for a netd that is down.
  std::int64_t grace_ms = 2000;
};

// A refused forward request: a machine code, the request field it concerns and a message for
// people. The caller decides how to answer it (the control API: 422, or 409 for kNoFreePort).
class ForwardError : public FieldError {
 public:
  enum class Kind {
    kInvalid,     // the request cannot be granted as asked
    kNoFreePort,  // the client holds a forward on every listen port
  };
  ForwardError(Kind kind, std::string code, std::string field, const std::string& message)
      : FieldError(std::move(code), std::move(field), message), kind_(kind) {}

  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// A request field that is present but not an integer: refused as an integer out of range is.
struct NotAnInteger {};
// An integer field of a request as the caller sent it; absent (monostate) takes the default.
using IntegerField = std::variant<std::monostate, std::int64_t, NotAnInteger>;

struct OpenRequest {
  std::string_view client_ip;  // as sent
  IntegerField vm_port;
  IntegerField ttl_s;
};

// An open request that passed validation.
struct ForwardTerms {
  Ipv4Address client;
  std::uint16_t vm_port = 22;
  std::int64_t ttl_s = 0;
};

// A forward whose time has come. `in_kernel`: whether its element may still be in the kernel
// to be deleted (the kernel drops it itself at the end of its grace).
struct DueForward {
  Forward forward;
  bool in_kernel = true;
};

// `fwd-` and 12 random hex digits.
std::string RandomForwardId();

// The forwards' rules: what may be opened, for how long, on which listen port, under which id,
// and which forwards are due. It plans; the caller applies the plan to the table (with the
// kernel and the store) and takes it back if they refuse.
class ForwardLifecycle {
 public:
  using IdSource = std::function<std::string()>;
  explicit ForwardLifecycle(ForwardOptions options, IdSource new_id = RandomForwardId)
      : options_(std::move(options)), new_id_(std::move(new_id)) {}

  // The client (unicast, outside the enclave), the VM port (one of `vm_ports`) and the life,
  // checked in that order; throws ForwardError.
  ForwardTerms Validate(const OpenRequest& request) const;
  // A new forward of `vm` on the client's lowest free listen port of `table`, under an id
  // `table` does not hold, from `now_ms` (Unix ms); not yet in `table`. Throws ForwardError
  // (kNoFreePort).
  Forward PlanOpen(const ForwardTable& table, const ForwardTerms& terms, std::string vm,
                   Ipv4Address vm_ip, std::int64_t now_ms) const;
  // `forward` renewed at `now_ms` for `ttl_s` (checked as an open's); throws ForwardError.
  Forward PlanRenewal(Forward forward, const IntegerField& ttl_s, std::int64_t now_ms) const;
  // The forwards of `table` due at `now_ms`, earliest first.
  std::vector<DueForward> Due(const ForwardTable& table, std::int64_t now_ms) const;

 private:
  // A life in seconds: the default when absent, else 1-`max_ttl_s`; throws ForwardError.
  std::int64_t Ttl(const IntegerField& ttl_s) const;

  ForwardOptions options_;
  IdSource new_id_;
};

}  // namespace netd::proxy
