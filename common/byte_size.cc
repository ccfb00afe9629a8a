#include "common/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace tscale {

StatusOr<int64_t> ParseByteSize(const std::string& text) {
  const auto bad = [&] {
    return Status::InvalidArgument("\"" + text + "\" is not a size (examples: 1073741824, 512M, 2G, 1.5GiB)");
  };
  if (text.empty() || text.size() > 32) return bad();
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(number) || number < 0) return bad();
  std::string suffix(end);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.size() >= 2 && suffix.substr(suffix.size() - 2) == "IB")
    suffix.resize(suffix.size() - 2);
  else if (suffix.size() >= 2 && suffix.back() == 'B')
    suffix.pop_back();
  double scale = 1;
  if (suffix == "K")
    scale = 1024.0;
  else if (suffix == "M")
    scale = 1024.0 * 1024;
  else if (suffix == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!suffix.empty() && suffix != "B")
    return bad();
  const double bytes = number * scale;
  if (bytes > 9.0e18) return bad();
  return static_cast<int64_t>(std::llround(bytes));
}

}  // namespace tscale
