#pragma once

#include <filesystem>
#include <string>

namespace netd::lab::detail {

// "--- <path> (last lines) ---" followed by the last `lines` lines of a daemon's log, for error
// messages that must say why a daemon did not come up.
std::string LogTail(const std::filesystem::path& path, int lines = 20);

}  // namespace netd::lab::detail
