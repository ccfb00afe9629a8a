// The header of a .safetensors file: 8 bytes little-endian header length N, N bytes of JSON describing every
// tensor (dtype, shape, [begin, end) byte offsets into the data that follows), then the raw data.
//
// ParseSafetensors validates everything before a byte of tensor data is trusted: the header fits the file,
// the JSON is an object of well-formed entries, dtypes are known, shapes are non-negative and do not
// overflow, each tensor's byte range has exactly numel * element size bytes, lies inside the data, and
// overlaps no other. Errors are INVALID_ARGUMENT naming the tensor and what is wrong (DATA_LOSS for a
// truncated file); nothing crashes on hostile input (fuzzed: tests/fuzz).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tscale {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

struct SafetensorsHeader {
  uint64_t header_bytes = 0;               // N
  uint64_t data_bytes = 0;                 // file size - 8 - N
  std::vector<SafetensorsTensor> tensors;  // in data order
  std::map<std::string, std::string> metadata;
};

// Bytes per element of a safetensors dtype; 0 for an unknown one.
int SafetensorsElementSize(const std::string& dtype);

// `file` is the start of the file; `file_size` its full size (the data need not be in `file`).
StatusOr<SafetensorsHeader> ParseSafetensors(std::string_view file, uint64_t file_size);

// Reads and validates the header of the file at `path`.
StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path);

}  // namespace tscale
