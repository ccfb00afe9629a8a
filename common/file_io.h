// Whole-file reads and crash-safe writes, the one place tscale touches files it must not half-write.
//
// Contract: WriteFileAtomically returns OK when `path` holds exactly `contents`, durable across power loss (the
// data and the directory entry are fsynced); UNAVAILABLE naming the path and the system error when it left
// whatever was there before; DATA_LOSS in the one case between: the file was replaced but its directory could
// not be fsynced, so the new contents are there now and may not survive a power loss. Readers never see a
// partial file: the data goes to a temporary file beside it and is renamed into place.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace tscale {

// The file's bytes; NOT_FOUND when it does not exist, UNAVAILABLE naming the path when it cannot be read.
// Refuses files larger than max_bytes (RESOURCE_EXHAUSTED) so an outside file cannot exhaust memory.
StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes = size_t{1} << 30);

// Writes contents to a temporary file in path's directory (mode `mode`, before the umask), fsyncs it, renames
// it over path and fsyncs the directory.
Status WriteFileAtomically(const std::string& path, const std::string& contents, unsigned mode = 0644);

// fsync of a directory, so a rename or unlink inside it survives power loss.
Status SyncDirectory(const std::string& dir);

// How many successful fsyncs of files and of directories this process has made here. Power loss cannot be
// simulated in a test, so tests check with these that a write took the durable path.
struct SyncCounts {
  uint64_t files = 0, directories = 0;
};
SyncCounts SyncCountsSoFar();

}  // namespace tscale
