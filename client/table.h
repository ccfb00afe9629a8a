// A plain-text table with aligned columns, for terminal output.
#pragma once

#include <string>
#include <vector>

namespace tscale {

class TextTable {
 public:
  enum class Align { kLeft, kRight };
  void AddColumn(std::string header, Align align = Align::kLeft);
  // A row must have one cell per column.
  void AddRow(std::vector<std::string> cells);
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<std::vector<std::string>> rows_;
};

// "1.23", "123.4" - a fixed number of significant-looking decimals for humans.
std::string FormatFixed(double value, int decimals);
// "109.5M" parameters.
std::string FormatMillions(int64_t count);
// "512.3 MiB".
std::string FormatMiB(int64_t bytes);
// A CSV field, RFC 4180: quoted when it holds a comma, a quote or a line break, its quotes doubled.
std::string CsvField(const std::string& text);

}  // namespace tscale
