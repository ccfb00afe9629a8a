#include "worker/outbox.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tscale {

namespace fs = std::filesystem;

std::string Outbox::Path(int64_t attempt_id) const {
  return (fs::path(dir_) / ("attempt-" + std::to_string(attempt_id) + ".result")).string();
}

Status Outbox::Open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::Unavailable("cannot create outbox " + dir_ + ": " + ec.message());
  return Status::Ok();
}

Status Outbox::Put(int64_t attempt_id, const v1::Result& result) {
  const std::string path = Path(attempt_id), tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!result.SerializeToOstream(&out) || !out.flush()) return Status::Unavailable("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::Unavailable("cannot rename " + tmp);
  return Status::Ok();
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
    std::ifstream in(entry.path(), std::ios::binary);
    v1::Result result;
    if (attempt_id <= 0 || !result.ParseFromIstream(&in)) {
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
