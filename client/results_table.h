// The `results` table: one line per job of a listing, as tscale-client results and submit --results print it.
// Pure (no gRPC), so its columns are unit-tested.
#pragma once

#include <string>

#include "tscale/v1/tscale.pb.h"

namespace tscale::client {

// Columns: job, model, workload, len, batch, outcome, params, load_ms, median_ms, iqr_ms, n, tokens/s, peak_MiB,
// then, only when the listing holds a decode job, new_tok, ttft_ms, tpot_ms, dec_tok/s, kv_MiB (medians of the
// job's time to first token and time per output token, batch / TPOT, the KV cache allocated; empty on forward
// rows), then, only when the listing holds a train job, ckpt (its checkpointing: none or layers; empty on other
// rows), and detail. A decode job's median_ms and tokens/s time its whole generation, a train job's its step.
// Followed by the wall finder's answers when the listing holds probes.
std::string RenderResultsTable(const v1::ListResultsResponse& response);

}  // namespace tscale::client
