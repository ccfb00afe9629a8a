// The small sweeps end-to-end tests submit: tiny models, short measurements, on real runners.
#pragma once

#include "tscale/v1/tscale.pb.h"

namespace tscale::testing {

// tiny-bert and tiny-gpt2 at `lengths` lengths (8, 16, ...), each measured for about `min_time_s`.
inline v1::SweepSpec TinyGridSpec(int lengths, double min_time_s) {
  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.add_models("tiny-gpt2");
  for (int i = 0; i < lengths; ++i) spec.add_seq_lengths(8 + 8 * i);
  spec.mutable_measurement()->set_min_time_s(min_time_s);
  spec.mutable_measurement()->set_min_iters(3);
  return spec;
}

// `jobs` tiny-bert jobs at 8 tokens that each measure for about `seconds` (max_iters raised so that time decides).
inline v1::SweepSpec LongJobsSpec(int jobs, double seconds) {
  v1::SweepSpec spec;
  spec.add_models("tiny-bert");
  spec.add_seq_lengths(8);
  spec.set_repetitions(jobs);
  auto* m = spec.mutable_measurement();
  m->set_min_time_s(seconds);
  m->set_min_iters(3);
  m->set_max_iters(1'000'000);
  return spec;
}

}  // namespace tscale::testing
