// "512M", "2G", "1.5GiB", "1048576" -> bytes. Suffixes K/M/G/T (optionally with "iB" or "B") are powers of 1024.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace tscale {

StatusOr<int64_t> ParseByteSize(const std::string& text);

}  // namespace tscale
