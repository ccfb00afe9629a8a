#include "common/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

namespace tscale {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own recommended bound
constexpr size_t kMaxRank = 16;

// The file's first 8 bytes: the header length, little-endian. `file` holds at least 8 bytes.
uint64_t HeaderLength(std::string_view file) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[static_cast<size_t>(i)]);
  return n;
}

Status Bad(const std::string& what) {
  return Status::InvalidArgument("safetensors: " + what);
}

}  // namespace

int SafetensorsElementSize(const std::string& dtype) {
  if (dtype == "BOOL" || dtype == "U8" || dtype == "I8" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  if (dtype == "I16" || dtype == "U16" || dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "I32" || dtype == "U32" || dtype == "F32") return 4;
  if (dtype == "I64" || dtype == "U64" || dtype == "F64") return 8;
  return 0;
}

StatusOr<SafetensorsHeader> ParseSafetensors(std::string_view file, uint64_t file_size) {
  if (file_size < 8 || file.size() < 8)
    return Status::DataLoss("safetensors: the file is " + std::to_string(file_size) +
                            " bytes, shorter than its 8-byte header length");
  const uint64_t n = HeaderLength(file);
  if (n > kMaxHeaderBytes) return Bad("header length " + std::to_string(n) + " exceeds 100 MiB");
  if (n > file_size - 8)
    return Status::DataLoss("safetensors: header length " + std::to_string(n) + " runs past the end of the " +
                            std::to_string(file_size) + "-byte file (truncated?)");
  if (file.size() < 8 + n) return Status::DataLoss("safetensors: the header was not fully read");

  SafetensorsHeader header;
  header.header_bytes = n;
  header.data_bytes = file_size - 8 - n;
  nlohmann::json doc = nlohmann::json::parse(file.substr(8, n), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("the header is not valid JSON");
  if (!doc.is_object()) return Bad("the header must be a JSON object");

  for (const auto& [name, entry] : doc.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Bad("__metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) return Bad("__metadata__." + key + " must be a string");
        header.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor \"" + name + "\": ";
    if (!entry.is_object()) return Bad(where + "entry must be an object");
    auto dtype = entry.find("dtype");
    auto shape = entry.find("shape");
    auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string()) return Bad(where + "dtype missing or not a string");
    if (shape == entry.end() || !shape->is_array()) return Bad(where + "shape missing or not an array");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2)
      return Bad(where + "data_offsets must be [begin, end]");
    SafetensorsTensor t;
    t.name = name;
    t.dtype = dtype->get<std::string>();
    const int element = SafetensorsElementSize(t.dtype);
    if (element == 0) return Bad(where + "unknown dtype \"" + t.dtype + "\"");
    if (shape->size() > kMaxRank) return Bad(where + "rank " + std::to_string(shape->size()) + " exceeds 16");
    uint64_t numel = 1;
    for (const auto& dim : *shape) {
      if (!dim.is_number_unsigned()) return Bad(where + "shape entries must be non-negative integers");
      const uint64_t d = dim.get<uint64_t>();
      if (d > 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / d) return Bad(where + "shape overflows");
      numel *= d;
      t.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(d, std::numeric_limits<int64_t>::max())));
    }
    for (const auto& o : *offsets)
      if (!o.is_number_unsigned()) return Bad(where + "data_offsets must be non-negative integers");
    t.begin = (*offsets)[0].get<uint64_t>();
    t.end = (*offsets)[1].get<uint64_t>();
    if (t.end < t.begin) return Bad(where + "data_offsets end before they begin");
    if (t.end > header.data_bytes)
      return Status::DataLoss("safetensors: " + where + "data ends at byte " + std::to_string(t.end) + " of a " +
                              std::to_string(header.data_bytes) + "-byte data section (truncated?)");
    if (t.end - t.begin != numel * static_cast<uint64_t>(element))
      return Bad(where + std::to_string(t.end - t.begin) + " bytes of data for " + std::to_string(numel) + " " +
                 t.dtype + " elements");
    header.tensors.push_back(std::move(t));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const auto& a, const auto& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < header.tensors.size(); ++i) {
    const auto& prev = header.tensors[i - 1];
    const auto& cur = header.tensors[i];
    if (cur.begin < prev.end && cur.end > cur.begin)
      return Bad("tensors \"" + prev.name + "\" and \"" + cur.name + "\" overlap");
  }
  return header;
}

StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::NotFound("cannot read " + path + ": " + ec.message());
  std::ifstream in(path, std::ios::binary);
  std::string prefix(8, '\0');
  if (!in.read(prefix.data(), 8)) return Status::DataLoss("safetensors: " + path + " is shorter than 8 bytes");
  const uint64_t n = HeaderLength(prefix);
  if (n <= kMaxHeaderBytes && n <= size - 8) {
    prefix.resize(8 + n);
    if (!in.read(prefix.data() + 8, static_cast<std::streamsize>(n)))
      return Status::DataLoss("safetensors: cannot read the header of " + path);
  }
  auto header = ParseSafetensors(prefix, size);
  if (!header.ok()) return header.status().Annotated(path + ": ");
  return header;
}

}  // namespace tscale
