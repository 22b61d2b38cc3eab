#pragma once

#include <filesystem>
#include <string>

namespace netd::lab {

// A certificate authority of the test's own, made with openssl in `dir`: its key and
// certificate are <dir>/<name>.key and <dir>/<name>.pem (CN "netd test <name>"), and Issue signs
// EC P-256 certificates for peers. Everything is valid for two days; the directory is the
// caller's, and goes with it.
class TestPki {
 public:
  TestPki(std::filesystem::path dir, std::string name);

  struct Files {
    std::filesystem::path private_key;
    std::filesystem::path certificate;
  };

  const std::filesystem::path& ca_certificate() const { return ca_.certificate; }
  // A key and a certificate for <dir>/<peer>.key and <dir>/<peer>.pem, CN "netd test <peer>",
  // signed by this CA.
  Files Issue(const std::string& peer);

 private:
  std::filesystem::path dir_;
  Files ca_;
  int serial_ = 1;
};

}  // namespace netd::lab
