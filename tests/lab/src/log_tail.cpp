#include "log_tail.hpp"

#include <deque>
#include <fstream>

namespace netd::lab::detail {

std::string LogTail(const std::filesystem::path& path, int lines) {
  std::ifstream in(path);
  if (!in) return "--- " + path.string() + " (missing) ---\n";
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (int(last.size()) > lines) last.pop_front();
  }
  std::string text = "--- " + path.string() + " (last lines) ---\n";
  for (const auto& line : last) text += line + "\n";
  return text;
}

}  // namespace netd::lab::detail
