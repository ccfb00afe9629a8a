// The progress line `tscale-client watch` redraws on a terminal: a bar, counts per outcome and an ETA.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tscale::client {

struct Progress {
  int finished = 0, total = 0;
  std::map<std::string, int> by_outcome;  // outcome name -> finished jobs
  int64_t started_unix_ms = 0;            // the sweep's first event; 0 = unknown
  int64_t now_unix_ms = 0;
};

// "[##########..........] 12/40 ok=10 oom=2 eta 3m20s". The ETA assumes the remaining jobs take as long
// on average as the finished ones did since the sweep started; it is left out until one job has finished
// and once all have.
std::string ProgressBar(const Progress& progress, int width = 30);

// "45s", "3m20s", "1h05m".
std::string FormatDuration(double seconds);

}  // namespace tscale::client
