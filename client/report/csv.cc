#include "client/report/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "client/table.h"
#include "common/file_io.h"
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
const std::string kTrainHeader =
    kDecodeHeader +
    ",flops,achieved_flops,peak_flops_fraction,device_peak_bytes,checkpointing,mixed_precision,"
    "parameter_bytes,gradient_bytes,optimizer_state_bytes,activation_bytes,measured_state_bytes,"
    "analytic_activation_bytes,torchtitan_flops,attention_flops_share";
constexpr size_t kTrainColumns = 41;
// Then the raw latency samples (one field, space-separated; empty when the listing had none), where and with
// what the job ran (Result.environment), and its context settings (JobSpec.extend_context, the config's limit).
const char* kEnvironmentColumns[] = {
    "samples_ms",      "hostname",       "os",           "cpu_model", "cpu_cores",      "device",
    "device_name",     "torch_version",  "blas",         "threads",   "tscale_version", "build_type",
    "sequence_kernel", "extend_context", "context_limit"};
std::string NewestHeader() {
  std::string header = kTrainHeader;
  for (const char* column : kEnvironmentColumns) header += std::string(",") + column;
  return header;
}
const std::string kHeader = NewestHeader();
constexpr size_t kColumns = kTrainColumns + sizeof(kEnvironmentColumns) / sizeof(kEnvironmentColumns[0]);
static_assert(kColumns == 56);

std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

std::string Samples(const std::vector<double>& samples) {
  std::string out;
  for (double sample : samples) out += (out.empty() ? "" : " ") + Number(sample);
  return out;
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

// The columns after the training ones (kEnvironmentColumns, from column kTrainColumns + 1), each error naming
// the record, the column's number and its name.
Status ReadEnvironmentColumns(const std::vector<std::string>& f, const std::string& where, Row* r) {
  auto bad = [&](size_t column, const std::string& what) {
    return Status::InvalidArgument(where + "column " + std::to_string(column + 1) + " (" +
                                   kEnvironmentColumns[column - kTrainColumns] + ") " + what);
  };
  auto count = [&](size_t column, int* out) -> Status {
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(f[column].c_str(), &end, 10);
    if (f[column].empty() || *end != '\0' || errno == ERANGE) return bad(column, "is not an integer");
    if (value < 0) return bad(column, "must not be negative");
    if (value > (1 << 30)) return bad(column, "must be at most 2^30");
    *out = static_cast<int>(value);
    return Status::Ok();
  };
  size_t column = kTrainColumns;
  // One space between samples, none around them: an empty sample (two spaces, a trailing one) is refused.
  const std::string& samples = f[column];
  for (size_t start = 0, index = 1; !samples.empty(); ++index) {
    size_t stop = samples.find(' ', start);
    if (stop == std::string::npos) stop = samples.size();
    const std::string text = samples.substr(start, stop - start);
    char* end = nullptr;
    const double sample = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0')
      return bad(column, "sample " + std::to_string(index) + " \"" + text +
                             "\" is not a number (samples are separated by one space)");
    if (!std::isfinite(sample) || sample < 0)
      return bad(column, "sample " + std::to_string(index) + " must be finite and >= 0");
    r->samples_ms.push_back(sample);
    if (stop == samples.size()) break;
    start = stop + 1;
  }
  Row::Environment& env = r->environment;
  env.hostname = f[++column];
  env.os = f[++column];
  env.cpu_model = f[++column];
  TSCALE_RETURN_IF_ERROR(count(++column, &env.cpu_cores));
  env.device = f[++column];  // not checked against DeviceKind: a newer tscale's device still reads
  env.device_name = f[++column];
  env.torch_version = f[++column];
  env.blas = f[++column];
  TSCALE_RETURN_IF_ERROR(count(++column, &env.threads));
  env.tscale_version = f[++column];
  env.build_type = f[++column];
  env.sequence_kernel = f[++column];
  if (f[++column] != "0" && f[column] != "1") return bad(column, "must be 0 or 1");
  r->extend_context = f[column] == "1";
  TSCALE_RETURN_IF_ERROR(count(++column, &r->context_limit));
  return Status::Ok();
}

}  // namespace

std::string ToCsv(const std::vector<Row>& rows) {
  std::ostringstream out;
  out << kHeader << "\n";
  for (const auto& r : rows) {
    out << r.job_id << "," << CsvField(r.model_id) << "," << CsvField(r.category) << "," << r.seq_len << "," << r.batch
        << "," << OutcomeName(r.outcome) << "," << CsvField(r.message) << "," << r.parameters << ","
        << Number(r.load_ms) << "," << Number(r.median_ms) << "," << Number(r.iqr_ms) << "," << Number(r.tokens_per_s)
        << "," << r.peak_rss_bytes << "," << r.sweep_id << "," << r.repetition << "," << CsvField(r.variant) << ","
        << r.wall_start << "," << r.wall_max << "," << r.wall_resolution << "," << r.memory_limit_bytes << ","
        << r.host_ram_bytes << "," << WorkloadName(r.workload) << "," << r.new_tokens << "," << Number(r.ttft_ms) << ","
        << Number(r.tpot_ms) << "," << Number(r.decode_tokens_per_s) << "," << r.kv_cache_bytes << ","
        << Number(r.flops) << "," << Number(r.achieved_flops) << "," << Number(r.peak_flops_fraction) << ","
        << r.device_peak_bytes << ","
        << (r.checkpointing == v1::CHECKPOINTING_UNSPECIFIED ? "" : CheckpointingName(r.checkpointing)) << ","
        << (r.train.mixed_precision ? 1 : 0) << "," << r.train.parameter_bytes << "," << r.train.gradient_bytes << ","
        << r.train.optimizer_state_bytes << "," << r.train.activation_bytes << "," << r.train.measured_state_bytes
        << "," << Number(r.train.analytic_activation_bytes) << "," << Number(r.train.torchtitan_flops) << ","
        << Number(r.train.attention_flops_share) << "," << Samples(r.samples_ms) << ","
        << CsvField(r.environment.hostname) << "," << CsvField(r.environment.os) << ","
        << CsvField(r.environment.cpu_model) << "," << r.environment.cpu_cores << "," << CsvField(r.environment.device)
        << "," << CsvField(r.environment.device_name) << "," << CsvField(r.environment.torch_version) << ","
        << CsvField(r.environment.blas) << "," << r.environment.threads << "," << CsvField(r.environment.tscale_version)
        << "," << CsvField(r.environment.build_type) << "," << CsvField(r.environment.sequence_kernel) << ","
        << (r.extend_context ? 1 : 0) << "," << r.context_limit << "\n";
  }
  return out.str();
}

StatusOr<std::vector<Row>> FromCsv(const std::string& text) {
  auto records = Records(text);
  if (!records.ok()) return records.status();
  if (records->empty()) return Status::InvalidArgument("csv: empty input");
  std::string header;
  for (size_t i = 0; i < (*records)[0].size(); ++i) header += (i ? "," : "") + (*records)[0][i];
  if (header != kHeader && header != kTrainHeader && header != kDecodeHeader && header != kForwardHeader)
    return Status::InvalidArgument("csv: line 1: unexpected header (expected " + kHeader + ")");
  std::vector<Row> rows;
  for (size_t line = 1; line < records->size(); ++line) {
    const auto& f = (*records)[line];
    const std::string where = "csv: record " + std::to_string(line + 1) + ": ";
    if (f.size() != kForwardColumns && f.size() != kDecodeColumns && f.size() != kTrainColumns && f.size() != kColumns)
      return Status::InvalidArgument(
          where + std::to_string(f.size()) + " fields, expected " + std::to_string(kForwardColumns) +
          " (a forward job, as written before the workload columns), " + std::to_string(kDecodeColumns) +
          " (as written before the training columns), " + std::to_string(kTrainColumns) +
          " (as written before the samples and environment columns) or " + std::to_string(kColumns));
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
    if (f.size() >= kTrainColumns) {
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
    if (f.size() == kColumns) TSCALE_RETURN_IF_ERROR(ReadEnvironmentColumns(f, where, &r));
    rows.push_back(std::move(r));
  }
  return rows;
}

StatusOr<std::vector<Row>> ReadCsvFile(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  auto rows = FromCsv(*text);
  if (!rows.ok()) return rows.status().Annotated(path + ": ");
  return rows;
}

}  // namespace tscale::report
