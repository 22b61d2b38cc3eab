#include "netd/lab/test_pki.hpp"

#include <utility>
#include <vector>

#include "netd/lab/command.hpp"

namespace netd::lab {
namespace {

void Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  RunCommandChecked(args);
}

// A new EC P-256 key, unencrypted, in a certificate request or a self-signed certificate.
const std::vector<std::string> kNewKey = {"-newkey", "ec", "-pkeyopt",
                                          "ec_paramgen_curve:prime256v1", "-nodes"};

}  // namespace

TestPki::TestPki(std::filesystem::path dir, std::string name)
    : dir_(std::move(dir)), ca_{dir_ / (name + ".key"), dir_ / (name + ".pem")} {
  std::vector<std::string> args = {"req", "-x509"};
  args.insert(args.end(), kNewKey.begin(), kNewKey.end());
  args.insert(args.end(), {"-keyout", ca_.private_key.string(), "-out", ca_.certificate.string(),
                           "-days", "2", "-subj", "/CN=netd test " + name});
  Openssl(args);
}

TestPki::Files TestPki::Issue(const std::string& peer) {
  Files files{dir_ / (peer + ".key"), dir_ / (peer + ".pem")};
  auto request = dir_ / (peer + ".csr");
  std::vector<std::string> args = {"req"};
  args.insert(args.end(), kNewKey.begin(), kNewKey.end());
  args.insert(args.end(), {"-keyout", files.private_key.string(), "-out", request.string(), "-subj",
                           "/CN=netd test " + peer});
  Openssl(args);
  Openssl({"x509", "-req", "-in", request.string(), "-CA", ca_.certificate.string(), "-CAkey",
           ca_.private_key.string(), "-set_serial", std::to_string(++serial_), "-days", "2", "-out",
           files.certificate.string()});
  return files;
}

}  // namespace netd::lab
