#pragma once

#include <string>
#include <utility>
#include <vector>

namespace netd::netctl {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

// A plain-text table for terminals: a header row, then one line per row, columns
// separated by two spaces and padded to their widest cell. Lines carry no trailing spaces, so
// the output survives copy-paste and `diff`.
class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // Throws std::invalid_argument unless `cells` has one cell per column.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  std::string Render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "label:  value" lines with the values aligned in one column, for a single object.
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields);

// Width on a terminal, counting each UTF-8 encoded character once (paths and hostnames may hold
// non-ASCII text; none of netd's fields hold double-width characters).
std::size_t DisplayWidth(const std::string& text);

}  // namespace netd::netctl
