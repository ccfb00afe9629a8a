#include "client/report/csv.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "common/outcome.h"

namespace tscale::report {
namespace {

// The columns of a file written before the workload axis; such a file (or record) holds forward jobs only, and
// is still read.
const char* kForwardHeader =
    "job_id,model_id,category,seq_len,batch,outcome,message,parameters,load_ms,median_ms,iqr_ms,tokens_per_s,"
    "peak_rss_bytes,sweep_id,repetition,variant,wall_start,wall_max,wall_resolution,memory_limit_bytes,"
    "host_ram_bytes";
constexpr size_t kForwardColumns = 21;
// Then the workload and, for decode jobs, their figures (0 for forward jobs).
const std::string kDecodeHeader =
    std::string(kForwardHeader) +
    ",workload,new_tokens,ttft_median_ms,tpot_median_ms,decode_tokens_per_s,kv_cache_bytes";
constexpr size_t kDecodeColumns = 27;
// Then every workload's FLOP figures and the device peak, and train jobs' setting and breakdown (0 otherwise).
const std::string kHeader =
    kDecodeHeader +
    ",flops,achieved_flops,peak_flops_fraction,device_peak_bytes,checkpointing,mixed_precision,"
    "parameter_bytes,gradient_bytes,optimizer_state_bytes,activation_bytes,measured_state_bytes,"
    "analytic_activation_bytes,torchtitan_flops,attention_flops_share";
constexpr size_t kColumns = 41;

std::string Quote(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

// Splits CSV text into records of fields (quoted fields may hold commas, quotes and newlines).
StatusOr<std::vector<std::vector<std::string>>> Records(const std::string& text) {
  std::vector<std::vector<std::string>> records(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    auto& field = records.back().back();
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      records.back().emplace_back();
    } else if (c == '\n') {
      records.emplace_back(1);
    } else if (c != '\r') {
      field += c;
    }
  }
  if (quoted) return Status::InvalidArgument("csv: unterminated quoted field");
  if (records.back().size() == 1 && records.back()[0].empty()) records.pop_back();
  return records;
}

}  // namespace

std::string ToCsv(const std::vector<Row>& rows) {
  std::ostringstream out;
  out << kHeader << "\n";
  for (const auto& r : rows) {
    out << r.job_id << "," << Quote(r.model_id) << "," << Quote(r.category) << "," << r.seq_len << "," << r.batch << ","
        << OutcomeName(r.outcome) << "," << Quote(r.message) << "," << r.parameters << "," << Number(r.load_ms) << ","
        << Number(r.median_ms) << "," << Number(r.iqr_ms) << "," << Number(r.tokens_per_s) << "," << r.peak_rss_bytes
        << "," << r.sweep_id << "," << r.repetition << "," << Quote(r.variant) << "," << r.wall_start << ","
        << r.wall_max << "," << r.wall_resolution << "," << r.memory_limit_bytes << "," << r.host_ram_bytes << ","
        << WorkloadName(r.workload) << "," << r.new_tokens << "," << Number(r.ttft_ms) << "," << Number(r.tpot_ms)
        << "," << Number(r.decode_tokens_per_s) << "," << r.kv_cache_bytes << "," << Number(r.flops) << ","
        << Number(r.achieved_flops) << "," << Number(r.peak_flops_fraction) << "," << r.device_peak_bytes << ","
        << (r.checkpointing == v1::CHECKPOINTING_UNSPECIFIED ? "" : CheckpointingName(r.checkpointing)) << ","
        << (r.train.mixed_precision ? 1 : 0) << "," << r.train.parameter_bytes << "," << r.train.gradient_bytes << ","
        << r.train.optimizer_state_bytes << "," << r.train.activation_bytes << "," << r.train.measured_state_bytes
        << "," << Number(r.train.analytic_activation_bytes) << "," << Number(r.train.torchtitan_flops) << ","
        << Number(r.train.attention_flops_share) << "\n";
  }
  return out.str();
}

StatusOr<std::vector<Row>> FromCsv(const std::string& text) {
  auto records = Records(text);
  if (!records.ok()) return records.status();
  if (records->empty()) return Status::InvalidArgument("csv: empty input");
  std::string header;
  for (size_t i = 0; i < (*records)[0].size(); ++i) header += (i ? "," : "") + (*records)[0][i];
  if (header != kHeader && header != kDecodeHeader && header != kForwardHeader)
    return Status::InvalidArgument("csv: line 1: unexpected header (expected " + kHeader + ")");
  std::vector<Row> rows;
  for (size_t line = 1; line < records->size(); ++line) {
    const auto& f = (*records)[line];
    const std::string where = "csv: record " + std::to_string(line + 1) + ": ";
    if (f.size() != kForwardColumns && f.size() != kDecodeColumns && f.size() != kColumns)
      return Status::InvalidArgument(where + std::to_string(f.size()) + " fields, expected " +
                                     std::to_string(kForwardColumns) + " (a forward job, as written before the " +
                                     "workload columns), " + std::to_string(kDecodeColumns) +
                                     " (as written before the training columns) or " + std::to_string(kColumns));
    auto integer = [&](size_t column, int64_t* out) -> Status {
      char* end = nullptr;
      *out = std::strtoll(f[column].c_str(), &end, 10);
      if (f[column].empty() || *end != '\0')
        return Status::InvalidArgument(where + "column " + std::to_string(column + 1) + " is not an integer");
      return Status::Ok();
    };
    auto real = [&](size_t column, double* out) -> Status {
      char* end = nullptr;
      *out = std::strtod(f[column].c_str(), &end);
      if (f[column].empty() || *end != '\0')
        return Status::InvalidArgument(where + "column " + std::to_string(column + 1) + " is not a number");
      return Status::Ok();
    };
    Row r;
    int64_t seq_len = 0, batch = 0;
    TSCALE_RETURN_IF_ERROR(integer(0, &r.job_id));
    r.model_id = f[1];
    r.category = f[2];
    TSCALE_RETURN_IF_ERROR(integer(3, &seq_len));
    TSCALE_RETURN_IF_ERROR(integer(4, &batch));
    if (seq_len <= 0 || seq_len > (1 << 30) || batch <= 0 || batch > (1 << 20))
      return Status::InvalidArgument(where + "seq_len and batch must be positive");
    r.seq_len = static_cast<int>(seq_len);
    r.batch = static_cast<int>(batch);
    auto outcome = ParseOutcome(f[5]);
    if (!outcome) return Status::InvalidArgument(where + "unknown outcome \"" + f[5] + "\"");
    r.outcome = *outcome;
    r.message = f[6];
    TSCALE_RETURN_IF_ERROR(integer(7, &r.parameters));
    TSCALE_RETURN_IF_ERROR(real(8, &r.load_ms));
    TSCALE_RETURN_IF_ERROR(real(9, &r.median_ms));
    TSCALE_RETURN_IF_ERROR(real(10, &r.iqr_ms));
    TSCALE_RETURN_IF_ERROR(real(11, &r.tokens_per_s));
    TSCALE_RETURN_IF_ERROR(integer(12, &r.peak_rss_bytes));
    TSCALE_RETURN_IF_ERROR(integer(13, &r.sweep_id));
    int64_t repetition = 0, wall_start = 0, wall_max = 0, wall_resolution = 0;
    TSCALE_RETURN_IF_ERROR(integer(14, &repetition));
    r.variant = f[15];
    TSCALE_RETURN_IF_ERROR(integer(16, &wall_start));
    TSCALE_RETURN_IF_ERROR(integer(17, &wall_max));
    TSCALE_RETURN_IF_ERROR(integer(18, &wall_resolution));
    TSCALE_RETURN_IF_ERROR(integer(19, &r.memory_limit_bytes));
    TSCALE_RETURN_IF_ERROR(integer(20, &r.host_ram_bytes));
    for (int64_t v : {repetition, wall_start, wall_max, wall_resolution})
      if (v < 0 || v > (1 << 30))
        return Status::InvalidArgument(where + "repetition and wall settings must be between 0 and 2^30");
    if (r.sweep_id < 0 || r.memory_limit_bytes < 0 || r.host_ram_bytes < 0)
      return Status::InvalidArgument(where + "sweep_id and byte counts must not be negative");
    r.repetition = static_cast<int>(repetition);
    r.wall_start = static_cast<int>(wall_start);
    r.wall_max = static_cast<int>(wall_max);
    r.wall_resolution = static_cast<int>(wall_resolution);
    if (f.size() >= kDecodeColumns) {
      auto workload = ParseWorkload(f[21]);
      if (!workload) return Status::InvalidArgument(where + "unknown workload \"" + f[21] + "\"");
      r.workload = *workload;
      int64_t new_tokens = 0;
      TSCALE_RETURN_IF_ERROR(integer(22, &new_tokens));
      TSCALE_RETURN_IF_ERROR(real(23, &r.ttft_ms));
      TSCALE_RETURN_IF_ERROR(real(24, &r.tpot_ms));
      TSCALE_RETURN_IF_ERROR(real(25, &r.decode_tokens_per_s));
      TSCALE_RETURN_IF_ERROR(integer(26, &r.kv_cache_bytes));
      if (new_tokens < 0 || new_tokens > (1 << 30) || r.kv_cache_bytes < 0)
        return Status::InvalidArgument(where + "new_tokens and kv_cache_bytes must not be negative");
      r.new_tokens = static_cast<int>(new_tokens);
    }
    if (f.size() == kColumns) {
      TSCALE_RETURN_IF_ERROR(real(27, &r.flops));
      TSCALE_RETURN_IF_ERROR(real(28, &r.achieved_flops));
      TSCALE_RETURN_IF_ERROR(real(29, &r.peak_flops_fraction));
      TSCALE_RETURN_IF_ERROR(integer(30, &r.device_peak_bytes));
      if (!f[31].empty()) {
        auto checkpointing = ParseCheckpointing(f[31]);
        if (!checkpointing) return Status::InvalidArgument(where + "unknown checkpointing \"" + f[31] + "\"");
        r.checkpointing = *checkpointing;
      }
      if (f[32] != "0" && f[32] != "1") return Status::InvalidArgument(where + "mixed_precision must be 0 or 1");
      r.train.mixed_precision = f[32] == "1";
      TSCALE_RETURN_IF_ERROR(integer(33, &r.train.parameter_bytes));
      TSCALE_RETURN_IF_ERROR(integer(34, &r.train.gradient_bytes));
      TSCALE_RETURN_IF_ERROR(integer(35, &r.train.optimizer_state_bytes));
      TSCALE_RETURN_IF_ERROR(integer(36, &r.train.activation_bytes));
      TSCALE_RETURN_IF_ERROR(integer(37, &r.train.measured_state_bytes));
      TSCALE_RETURN_IF_ERROR(real(38, &r.train.analytic_activation_bytes));
      TSCALE_RETURN_IF_ERROR(real(39, &r.train.torchtitan_flops));
      TSCALE_RETURN_IF_ERROR(real(40, &r.train.attention_flops_share));
      for (int64_t v : {r.device_peak_bytes, r.train.parameter_bytes, r.train.gradient_bytes,
                        r.train.optimizer_state_bytes, r.train.activation_bytes})
        if (v < 0) return Status::InvalidArgument(where + "byte counts must not be negative");
    } else if (r.workload == v1::WORKLOAD_TRAIN) {
      r.checkpointing = v1::CHECKPOINTING_NONE;  // a file written before the training columns
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace tscale::report
