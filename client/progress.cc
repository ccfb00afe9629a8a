#include "client/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tscale::client {

std::string FormatDuration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

std::string ProgressBar(const Progress& p, int width) {
  const int total = std::max(p.total, 0), finished = std::clamp(p.finished, 0, total);
  const int filled = total > 0 ? width * finished / total : 0;
  std::string line = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " +
                     std::to_string(finished) + "/" + std::to_string(total);
  for (const auto& [outcome, count] : p.by_outcome) line += " " + outcome + "=" + std::to_string(count);
  const double elapsed_s = static_cast<double>(p.now_unix_ms - p.started_unix_ms) / 1000.0;
  if (finished > 0 && finished < total && p.started_unix_ms > 0 && elapsed_s > 0)
    line += " eta " + FormatDuration(elapsed_s / finished * (total - finished));
  return line;
}

}  // namespace tscale::client
