#include "worker/outbox.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/file_io.h"

namespace tscale {

namespace fs = std::filesystem;

std::string Outbox::Path(int64_t attempt_id) const {
  return (fs::path(dir_) / ("attempt-" + std::to_string(attempt_id) + ".result")).string();
}

Status Outbox::Open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::Unavailable("cannot create outbox " + dir_ + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);  // results are delivered with the worker's token: private, like the state dir
  // Temporary files of writes a crash interrupted (their result was never counted as written).
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("attempt-", 0) == 0 && name.find(".result.tmp") != std::string::npos) fs::remove(entry.path(), ec);
  }
  return Status::Ok();
}

Status Outbox::Put(int64_t attempt_id, const v1::Result& result) {
  std::string bytes;
  if (!result.SerializeToString(&bytes))
    return Status::Internal("cannot serialise the result of attempt " + std::to_string(attempt_id));
  // Durable before it counts as written: the file and the directory entry are fsynced (file_io.h), so a result
  // the worker goes on to acknowledge survives a power loss, and a crash mid-write leaves no partial file.
  return WriteFileAtomically(Path(attempt_id), bytes, 0600);
}

std::vector<std::pair<int64_t, v1::Result>> Outbox::Pending(int* skipped) const {
  std::vector<std::pair<int64_t, v1::Result>> out;
  if (skipped) *skipped = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("attempt-", 0) != 0 || entry.path().extension() != ".result") continue;
    int64_t attempt_id = 0;
    try {
      attempt_id = std::stoll(name.substr(8));
    } catch (const std::exception&) {
      if (skipped) ++*skipped;
      continue;
    }
    constexpr size_t kMaxResultBytes = 64 << 20;
    auto bytes = ReadWholeFile(entry.path().string(), kMaxResultBytes);
    v1::Result result;
    if (attempt_id <= 0 || !bytes.ok() || !result.ParseFromString(*bytes)) {
      if (skipped) ++*skipped;
      continue;
    }
    out.emplace_back(attempt_id, std::move(result));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void Outbox::Remove(int64_t attempt_id) {
  std::error_code ec;
  fs::remove(Path(attempt_id), ec);
}

bool DeliveryRounds::Request() {
  if (running_) {
    again_ = true;
    return false;
  }
  running_ = true;
  return true;
}

bool DeliveryRounds::Finish() {
  running_ = false;
  const bool again = again_;
  again_ = false;
  return again;
}

}  // namespace tscale
