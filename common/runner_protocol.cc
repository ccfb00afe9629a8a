#include "common/runner_protocol.h"

#include <cstdio>
#include <sstream>

namespace tscale {
namespace {
constexpr const char* kPrefix = "tscale-progress";
}

std::string FormatProgressLine(const std::string& phase, int done, double last_ms, int64_t rss_bytes) {
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "%s %s %d %.4f %lld", kPrefix, phase.c_str(), done, last_ms,
                static_cast<long long>(rss_bytes));
  return buffer;
}

std::optional<v1::MetricEvent> ParseProgressLine(const std::string& line) {
  std::istringstream in(line);
  std::string prefix, phase, extra;
  int done = 0;
  double last_ms = 0;
  long long rss = 0;
  if (!(in >> prefix >> phase >> done >> last_ms >> rss) || prefix != kPrefix || (in >> extra)) return std::nullopt;
  if (phase.size() > 32 || done < 0 || last_ms < 0 || rss < 0) return std::nullopt;
  v1::MetricEvent event;
  event.set_phase(phase);
  event.set_iterations_done(done);
  event.set_last_latency_ms(last_ms);
  event.set_rss_bytes(rss);
  return event;
}

}  // namespace tscale
