#include "client/compare/compare.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/outcome.h"

namespace tscale::compare {
namespace {

CellSide SummarizeSide(const std::vector<const report::Row*>& rows) {
  CellSide side;
  std::vector<double> job_medians, ttfts, tpots;
  int evidence = 0;
  bool every_works = true, every_ok_has_samples = true;
  for (const report::Row* row : rows) {
    ++side.jobs;
    side.extend_context = side.extend_context || row->extend_context;
    side.context_limit = std::max(side.context_limit, row->context_limit);
    if (OutcomeSaysNothing(row->outcome)) continue;
    ++evidence;
    every_works = every_works && OutcomeWorks(row->outcome);
    if (row->outcome == v1::OUTCOME_OK) {
      ++side.ok_jobs;
      job_medians.push_back(row->median_ms);
      if (row->workload == v1::WORKLOAD_DECODE) {
        ttfts.push_back(row->ttft_ms);
        tpots.push_back(row->tpot_ms);
      }
      every_ok_has_samples = every_ok_has_samples && !row->samples_ms.empty();
      side.samples_ms.insert(side.samples_ms.end(), row->samples_ms.begin(), row->samples_ms.end());
      side.peak_rss_bytes = std::max(side.peak_rss_bytes, row->peak_rss_bytes);
      side.device_peak_bytes = std::max(side.device_peak_bytes, row->device_peak_bytes);
    } else if (side.outcome == v1::OUTCOME_UNSPECIFIED || report::CauseSeverity(report::CauseOf(row->outcome)) >
                                                              report::CauseSeverity(report::CauseOf(side.outcome))) {
      side.outcome = row->outcome;
      side.message = row->message;
    }
  }
  side.works = evidence > 0 && every_works;
  if (evidence == 0)
    side.outcome = v1::OUTCOME_UNSPECIFIED;
  else if (side.outcome == v1::OUTCOME_UNSPECIFIED)
    side.outcome = v1::OUTCOME_OK;
  // A CSV written before the samples column has the jobs' medians only: they stand in for the samples (one per
  // job, so usually too few for a verdict, which then says so).
  if (!every_ok_has_samples) side.samples_ms = job_medians;
  side.median_ms = Median(side.samples_ms);
  side.ttft_ms = Median(ttfts);
  side.tpot_ms = Median(tpots);
  return side;
}

// FNV-1a of the cell's name: a per-cell bootstrap stream that does not depend on which other cells are compared
// or in what order, and is the same on every platform (std::hash is not).
uint64_t CellSeed(uint64_t seed, const CellKey& key) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : CellName(key)) h = (h ^ c) * 1099511628211ull;
  return h;
}

Speed CompareSpeed(const CellSide& base, const CellSide& head, const CellKey& key, const Options& o) {
  Speed s;
  s.base_samples = static_cast<int>(base.samples_ms.size());
  s.head_samples = static_cast<int>(head.samples_ms.size());
  s.base_median_ms = base.median_ms;
  s.head_median_ms = head.median_ms;
  if (base.ok_jobs == 0 || head.ok_jobs == 0 || base.median_ms <= 0 || head.median_ms <= 0) return s;
  s.ratio = head.median_ms / base.median_ms;
  const MannWhitney test = MannWhitneyU(head.samples_ms, base.samples_ms);
  s.p_value = test.p_value;
  s.exact = test.exact;
  s.ci = BootstrapMedianRatio(base.samples_ms, head.samples_ms, o.confidence, o.bootstrap_resamples,
                              CellSeed(o.seed, key));
  // The verdict asks for p < alpha: when even the most extreme arrangement only reaches alpha, the test
  // cannot decide.
  if (SmallestAttainablePValue(s.base_samples, s.head_samples) >= o.alpha) {
    s.verdict = Verdict::kTooFewSamples;
  } else if (s.p_value < o.alpha && s.ratio - 1 > o.threshold) {
    s.verdict = Verdict::kSlower;
  } else if (s.p_value < o.alpha && 1 - s.ratio > o.threshold) {
    s.verdict = Verdict::kFaster;
  } else {
    s.verdict = Verdict::kNoChange;
  }
  return s;
}

OutcomeChange ChangeOf(const CellSide& base, const CellSide& head) {
  if (base.outcome == v1::OUTCOME_UNSPECIFIED || head.outcome == v1::OUTCOME_UNSPECIFIED)
    return OutcomeChange::kUnknown;
  if (base.works && head.works) return base.outcome == head.outcome ? OutcomeChange::kSame : OutcomeChange::kValidity;
  if (base.works) return OutcomeChange::kRegressed;
  if (head.works) return OutcomeChange::kFixed;
  return base.outcome == head.outcome ? OutcomeChange::kSame : OutcomeChange::kCauseChanged;
}

// The context settings that differ between the sides, which is what turns an exceeds_context into a run.
std::string SettingChange(const CellSide& base, const CellSide& head) {
  std::string change;
  if (base.extend_context != head.extend_context)
    change = std::string("--extend-context on ") + (head.extend_context ? "head" : "base") + " only";
  if (base.context_limit != head.context_limit) {
    auto limit = [](int l) { return l > 0 ? std::to_string(l) : std::string("none"); };
    change += (change.empty() ? "" : "; ") + std::string("context limit ") + limit(base.context_limit) + " -> " +
              limit(head.context_limit);
  }
  return change;
}

CellKey SeriesOf(CellKey key) {
  key.seq_len = 0;
  return key;
}

WallSide WallOf(const std::map<int, const CellSide*>& by_length) {
  WallSide wall;
  for (const auto& [length, side] : by_length)
    if (side->works) wall.max_working = length;
  for (const auto& [length, side] : by_length) {
    if (length <= wall.max_working || side->works || side->outcome == v1::OUTCOME_UNSPECIFIED) continue;
    wall.first_failing = length;
    wall.cause = side->outcome;
    break;
  }
  return wall;
}

bool SameWall(const WallSide& a, const WallSide& b) {
  return a.max_working == b.max_working && a.first_failing == b.first_failing && a.cause == b.cause;
}

// Rows with an environment (a job that never reached a runner, e.g. refused for its context, has none).
std::vector<EnvironmentField> EnvironmentOf(const std::vector<report::Row>& base,
                                            const std::vector<report::Row>& head) {
  using Getter = std::string (*)(const report::Row&);
  static const std::vector<std::pair<const char*, Getter>> kFields = {
      {"host", [](const report::Row& r) { return r.environment.hostname; }},
      {"os", [](const report::Row& r) { return r.environment.os; }},
      {"cpu", [](const report::Row& r) { return r.environment.cpu_model; }},
      {"cores",
       [](const report::Row& r) { return r.environment.cpu_cores ? std::to_string(r.environment.cpu_cores) : ""; }},
      {"ram",
       [](const report::Row& r) {
         return r.host_ram_bytes ? std::to_string((r.host_ram_bytes + (1 << 29)) >> 30) + " GiB" : std::string();
       }},
      {"device",
       [](const report::Row& r) {
         return r.environment.device +
                (r.environment.device_name.empty() ? "" : " (" + r.environment.device_name + ")");
       }},
      {"libtorch", [](const report::Row& r) { return r.environment.torch_version; }},
      {"blas", [](const report::Row& r) { return r.environment.blas; }},
      {"threads",
       [](const report::Row& r) { return r.environment.threads ? std::to_string(r.environment.threads) : ""; }},
      {"dtype", [](const report::Row& r) { return r.variant.substr(0, r.variant.find('/')); }},
      {"memory limit",
       [](const report::Row& r) {
         return r.memory_limit_bytes ? std::to_string(r.memory_limit_bytes >> 20) + " MiB" : std::string("none");
       }},
      {"sequence kernel", [](const report::Row& r) { return r.environment.sequence_kernel; }},
      {"tscale", [](const report::Row& r) { return r.environment.tscale_version; }},
      {"build", [](const report::Row& r) { return r.environment.build_type; }},
  };
  auto values = [](const std::vector<report::Row>& rows, Getter get) {
    std::set<std::string> distinct;
    for (const auto& row : rows) {
      if (row.environment.hostname.empty() && row.environment.torch_version.empty()) continue;
      if (std::string v = get(row); !v.empty()) distinct.insert(v);
    }
    return std::vector<std::string>(distinct.begin(), distinct.end());
  };
  std::vector<EnvironmentField> fields;
  for (const auto& [name, get] : kFields) {
    EnvironmentField f{name, values(base, get), values(head, get)};
    f.differs = f.base != f.head;
    if (f.base.empty() && f.head.empty()) continue;  // neither side knows (e.g. no sequence kernel)
    fields.push_back(std::move(f));
  }
  std::stable_partition(fields.begin(), fields.end(), [](const EnvironmentField& f) { return f.differs; });
  return fields;
}

}  // namespace

CellKey KeyOf(const report::Row& row) {
  CellKey key;
  key.model_id = row.model_id;
  key.workload = row.workload;
  key.seq_len = row.seq_len;
  key.batch = row.batch;
  key.variant = row.variant;
  key.checkpointing = row.workload == v1::WORKLOAD_TRAIN ? row.checkpointing : v1::CHECKPOINTING_UNSPECIFIED;
  key.new_tokens = row.workload == v1::WORKLOAD_DECODE ? row.new_tokens : 0;
  return key;
}

std::string CellName(const CellKey& key) {
  std::string name = key.model_id + " " + WorkloadName(key.workload);
  if (key.seq_len > 0) name += " " + std::to_string(key.seq_len);
  name += " b" + std::to_string(key.batch) + " " + key.variant;
  if (key.checkpointing != v1::CHECKPOINTING_UNSPECIFIED) name += " ckpt=" + CheckpointingName(key.checkpointing);
  if (key.new_tokens > 0) name += " new=" + std::to_string(key.new_tokens);
  return name;
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kFaster:
      return "faster";
    case Verdict::kSlower:
      return "slower";
    case Verdict::kNoChange:
      return "no change";
    case Verdict::kTooFewSamples:
      return "too few samples";
    case Verdict::kNotComparable:
      return "not comparable";
  }
  return "?";
}

const char* OutcomeChangeName(OutcomeChange change) {
  switch (change) {
    case OutcomeChange::kSame:
      return "same";
    case OutcomeChange::kRegressed:
      return "regressed";
    case OutcomeChange::kFixed:
      return "fixed";
    case OutcomeChange::kCauseChanged:
      return "cause changed";
    case OutcomeChange::kValidity:
      return "validity changed";
    case OutcomeChange::kUnknown:
      return "unknown";
  }
  return "?";
}

bool Comparison::HasRegression() const {
  return std::any_of(cells.begin(), cells.end(), [](const CellComparison& c) {
    return c.speed.verdict == Verdict::kSlower || c.outcome_change == OutcomeChange::kRegressed;
  });
}

Status ValidateOptions(const Options& o) {
  auto fraction = [](double v) { return v > 0 && v < 1; };
  if (!(o.threshold >= 0 && o.threshold < 1))
    return Status::InvalidArgument("--threshold must be a fraction in [0, 1) (0.05 is 5 %)");
  if (!fraction(o.alpha)) return Status::InvalidArgument("--alpha must be between 0 and 1");
  if (!(o.memory_threshold >= 0 && o.memory_threshold <= 10))
    return Status::InvalidArgument("--memory-threshold must be a fraction in [0, 10] (0.10 is 10 %)");
  if (!fraction(o.confidence)) return Status::InvalidArgument("--confidence must be between 0 and 1");
  if (o.bootstrap_resamples < 100 || o.bootstrap_resamples > 1000000)
    return Status::InvalidArgument("--resamples must be between 100 and 1000000");
  return Status::Ok();
}

Comparison Compare(const std::vector<report::Row>& base, const std::vector<report::Row>& head, const Options& o) {
  Comparison out;
  out.options = o;
  out.environment = EnvironmentOf(base, head);
  std::map<CellKey, std::vector<const report::Row*>> base_cells, head_cells;
  for (const auto& row : base) base_cells[KeyOf(row)].push_back(&row);
  for (const auto& row : head) head_cells[KeyOf(row)].push_back(&row);

  std::map<CellKey, CellSide> base_sides, head_sides;
  for (const auto& [key, rows] : base_cells) base_sides[key] = SummarizeSide(rows);
  for (const auto& [key, rows] : head_cells) head_sides[key] = SummarizeSide(rows);
  for (const auto& [key, b] : base_sides) {
    auto h = head_sides.find(key);
    if (h == head_sides.end()) {
      out.base_only.push_back(key);
      continue;
    }
    CellComparison c;
    c.key = key;
    c.base = b;
    c.head = h->second;
    c.speed = CompareSpeed(c.base, c.head, key, o);
    c.outcome_change = ChangeOf(c.base, c.head);
    c.setting_change = SettingChange(c.base, c.head);
    const bool device = c.base.device_peak_bytes > 0 && c.head.device_peak_bytes > 0;
    const int64_t base_bytes = device ? c.base.device_peak_bytes : c.base.peak_rss_bytes;
    const int64_t head_bytes = device ? c.head.device_peak_bytes : c.head.peak_rss_bytes;
    if (base_bytes > 0 && head_bytes > 0) {
      c.memory_ratio = static_cast<double>(head_bytes) / static_cast<double>(base_bytes);
      c.memory_changed = std::fabs(c.memory_ratio - 1) > o.memory_threshold;
    }
    out.cells.push_back(std::move(c));
  }
  for (const auto& [key, side] : head_sides)
    if (base_sides.count(key) == 0) out.head_only.push_back(key);

  // Walls per series. Whether one moved is decided over the lengths both sides ran (a sweep that simply went
  // further is one-sided cells, not a moved wall); what is shown is each side's wall over all its own lengths.
  std::map<CellKey, std::map<int, const CellSide*>> base_common, head_common, base_own, head_own;
  for (const auto& c : out.cells) {
    base_common[SeriesOf(c.key)][c.key.seq_len] = &base_sides[c.key];
    head_common[SeriesOf(c.key)][c.key.seq_len] = &head_sides[c.key];
  }
  for (const auto& [key, side] : base_sides) base_own[SeriesOf(key)][key.seq_len] = &side;
  for (const auto& [key, side] : head_sides) head_own[SeriesOf(key)][key.seq_len] = &side;
  for (const auto& [series, lengths] : base_common) {
    if (SameWall(WallOf(lengths), WallOf(head_common[series]))) continue;
    out.walls.push_back({series, WallOf(base_own[series]), WallOf(head_own[series])});
  }
  return out;
}

}  // namespace tscale::compare
