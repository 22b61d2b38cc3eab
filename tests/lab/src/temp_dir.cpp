#include "netd/lab/temp_dir.hpp"

#include <system_error>

#include "netd/lab/harness.hpp"
#include "registry.hpp"

namespace netd::lab {

TempDir::TempDir(std::string_view tag) : path_(std::filesystem::path(kTempBase) / UniqueName(tag)) {
  std::filesystem::create_directory(path_);
  registration_slot_ =
      detail::RegisterResource(detail::ResourceKind::kDirectory, 0, path_.string());
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  detail::ReleaseResource(registration_slot_);
}

}  // namespace netd::lab
