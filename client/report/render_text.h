// The report as plain-text tables (docs/report.md explains every column and formula).
#pragma once

#include <string>
#include <vector>

#include "client/report/aggregate.h"
#include "client/report/decode_scaling.h"

namespace tscale::report {

// "12 [10-14]": a spread as the text tables write it (median [q1-q3]); "" when empty.
std::string SpreadText(const Spread& s, int decimals);

// The forward (prefill) tables, from forward cells (Cells(rows)).
std::string RenderText(const std::vector<CellSummary>& cells);

// The decode table, one line per decode cell (Cells(rows, WORKLOAD_DECODE)): outcome, TTFT, TPOT, decode
// tokens/s, KV cache; "" when there is none.
std::string RenderDecode(const std::vector<CellSummary>& decode_cells);
// Its cells, in its column order (model, category, length, new_tokens, jobs, ok, outcome, ttft_ms, tpot_ms,
// decode tok/s, kv_MiB, peak_MiB): the text and HTML reports show the same figures.
std::vector<std::string> DecodeRowCells(const CellSummary& cell);

// How decode grows with the prompt (DecodeScaling): per decode configuration its TTFT, TPOT and KV-cache
// exponents next to the prefill exponent of the same model's forward rows, a line per configuration comparing
// TPOT's growth with prefill's, then decode tokens/s by category and prompt length. "" without decode rows.
std::string RenderDecodeScaling(const std::vector<Row>& rows);
// A configuration's cells, in that table's column order (model, variant, batch, new_tok, lengths, ttft_exp,
// tpot_exp, kv_exp, prefill_len, prefill_exp; an exponent is "-" below kMinDecodeFitLengths lengths).
std::vector<std::string> DecodeScalingRowCells(const DecodeSeries& series);

// The cells of the per-model table, in its column order (model, category, params, max_len, class, wall,
// mem_x, lat_exp, mem_exp, tok/s/Mparam): the text and HTML reports show the same figures.
std::vector<std::string> ModelRowCells(const ModelScaling& model);
// Its max_len and wall cells: "1024" ("-" when no length works), "2048 (memory)" or "not reached".
std::string MaxWorkingText(const ModelScaling& model);
std::string WallText(const ModelScaling& model);

// The wall finder's answers, one line per search; "" when the rows hold no wall-finder probes.
std::string RenderWalls(const std::vector<WallRow>& walls);

// "oom", "context" ... for a wall's cause; "(none up to max)" when nothing failed.
std::string WallCauseText(const wall::Answer& answer);
// "converged", "searching", "stopped: cancelled".
std::string WallStateText(const wall::Answer& answer);

}  // namespace tscale::report
