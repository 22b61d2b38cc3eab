#include "netctl/table.hpp"

#include <algorithm>
#include <stdexcept>

namespace netd::netctl {
namespace {

void AppendPadded(std::string& line, const std::string& cell, std::size_t width, Align align,
                  bool last_column) {
  const std::size_t padding = width - DisplayWidth(cell);
  if (align == Align::kRight) line.append(padding, ' ');
  line += cell;
  if (align == Align::kLeft && !last_column) line.append(padding, ' ');
}

}  // namespace

std::size_t DisplayWidth(const std::string& text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  if (cells.size() != columns_.size()) {
    throw std::invalid_argument("table row has " + std::to_string(cells.size()) + " cells for " +
                                std::to_string(columns_.size()) + " columns");
  }
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<std::size_t> widths;
  for (const auto& column : columns_) widths.push_back(DisplayWidth(column.header));
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }

  std::string text;
  auto append_line = [&](auto cell_at) {
    std::string line;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) line += "  ";
      AppendPadded(line, cell_at(i), widths[i], columns_[i].align, i + 1 == columns_.size());
    }
    // An empty last cell would leave the column separator (and padding) at the end of the line.
    line.erase(line.find_last_not_of(' ') + 1);
    text += line;
    text += '\n';
  };
  append_line([&](std::size_t i) -> const std::string& { return columns_[i].header; });
  for (const auto& row : rows_) {
    append_line([&](std::size_t i) -> const std::string& { return row[i]; });
  }
  return text;
}

std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t label_width = 0;
  for (const auto& [label, value] : fields) {
    label_width = std::max(label_width, DisplayWidth(label));
  }
  std::string text;
  for (const auto& [label, value] : fields) {
    text += label;
    text += ':';
    text.append(label_width - DisplayWidth(label) + 2, ' ');
    text += value;
    text += '\n';
  }
  return text;
}

}  // namespace netd::netctl
