#include "worker/outcome_classifier.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <string_view>

#include "common/host_info.h"
#include "common/outcome.h"
#include "common/result_validation.h"
#include "common/runner_protocol.h"

namespace tscale {
namespace {

std::string LastLine(const std::string& text) {
  size_t end = text.find_last_not_of("\r\n");
  if (end == std::string::npos) return "";
  size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end - (start == std::string::npos ? 0 : start + 1) + 1);
}

// `text` as a Result may carry it: at most `max_bytes` (the first ones, or the last with `keep_end`), every byte
// that is not part of a well-formed UTF-8 sequence replaced by '?' (protobuf refuses to parse a string field
// that is not UTF-8, so one stray byte of a runner's stderr would make the whole completion unreadable).
std::string FitText(std::string text, size_t max_bytes, bool keep_end) {
  if (text.size() > max_bytes) text = keep_end ? text.substr(text.size() - max_bytes) : text.substr(0, max_bytes);
  if (IsValidUtf8(text)) return text;
  std::string fitted;
  fitted.reserve(text.size());
  std::string_view rest(text);
  while (!rest.empty()) {
    // The longest prefix that is valid UTF-8 is kept whole; the byte after it is replaced.
    size_t length = 1;
    for (size_t n = std::min<size_t>(4, rest.size()); n >= 1; --n)
      if (IsValidUtf8(rest.substr(0, n))) {
        length = n;
        break;
      }
    if (length == 1 && static_cast<unsigned char>(rest[0]) >= 0x80) {
      fitted += '?';
    } else {
      fitted.append(rest.substr(0, length));
    }
    rest.remove_prefix(length);
  }
  return fitted;
}

// The runner's result file as the Result it reports, or why it cannot be taken as one. What is taken must meet
// the rules the coordinator checks a completion against (ValidateResult): a result it would refuse is dropped
// by the worker, and the job would run again and again until it ends `lost` instead of `error` at once.
StatusOr<v1::Result> ParseRunnerResult(const std::optional<std::string>& json) {
  if (!json) return Status::InvalidArgument("runner exited 0 without a readable result file");
  v1::Result result;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer runner may report more than this worker knows
  if (auto parsed = google::protobuf::util::JsonStringToMessage(*json, &result, options); !parsed.ok())
    return Status::InvalidArgument("runner exited 0 without a readable result file: it is not a tscale.v1.Result " +
                                   FitText("in protobuf JSON (" + std::string(parsed.message()) + ")", 1024, false));
  if (Status valid = ValidateResult(result, ""); !valid.ok())
    return Status::InvalidArgument("runner exited 0 with an invalid result file: " + valid.message());
  return result;
}

}  // namespace

v1::Result ClassifyChildExit(const ChildExit& exit, const std::optional<std::string>& result_json, double deadline_s) {
  v1::Result result;
  const StatusOr<v1::Result> reported = ParseRunnerResult(result_json);

  if (exit.killed_by_us == KillReason::kDeadline) {
    result.set_outcome(v1::OUTCOME_TIMEOUT);
    result.set_message("killed after " + std::to_string(exit.wall_s) + " s: the job's execution limit is " +
                       std::to_string(deadline_s) + " s");
  } else if (exit.killed_by_us == KillReason::kSetupFailed) {
    // The worker gives such an attempt back rather than reporting it (SPEC section 1: infrastructure
    // failures count towards `lost`); should one be classified all the same, it is no `oom`.
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message("the worker could not set the job up: " + exit.kill_detail);
  } else if (exit.killed_by_us == KillReason::kMemoryLimit) {
    result.set_outcome(v1::OUTCOME_OOM);
    result.set_message(exit.kill_detail);
  } else if (exit.kernel_oom_kill) {
    // memory.events of the job's own cgroup says the kernel's OOM killer acted at memory.max: that, unlike
    // a bare SIGKILL, is proof.
    result.set_outcome(v1::OUTCOME_OOM);
    result.set_message("killed by the kernel's OOM killer at the job's cgroup memory.max");
  } else if (exit.killed_by_us == KillReason::kRevoked || exit.killed_by_us == KillReason::kDrain) {
    result.set_outcome(v1::OUTCOME_CANCELLED);
    result.set_message("killed: the coordinator revoked the lease");
  } else if (exit.exited && exit.exit_code == kRunnerExitResultWritten && reported.ok()) {
    result = *reported;
  } else if (exit.exited && exit.exit_code == kRunnerExitResultWritten) {
    // A protocol violation, reported as `error` naming what was wrong (never dropped: see ParseRunnerResult).
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message(reported.status().message());
  } else if (exit.exited && exit.exit_code == kRunnerExitOutOfMemory) {
    result.set_outcome(v1::OUTCOME_OOM);
    result.set_message("runner reported an allocator failure: " + LastLine(exit.stderr_tail));
  } else if (exit.exited && exit.exit_code == kRunnerExitBadJob) {
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message("runner rejected its job file: " + LastLine(exit.stderr_tail));
  } else if (exit.exited) {
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message("runner exited with code " + std::to_string(exit.exit_code) + ": " + LastLine(exit.stderr_tail));
  } else {
    // A bare SIGKILL that we did not send is not proof of OOM (SPEC section 1): it is recorded as a
    // crash with its signal; the memory-limit path (cgroup events, RSS watchdog) is what proves OOM.
    result.set_outcome(v1::OUTCOME_CRASHED);
    result.set_signal_name(SignalName(exit.signal));
    result.set_message("runner died on " + SignalName(exit.signal) +
                       (exit.signal == 9 ? " sent from outside the worker (kernel OOM killer or an operator)" : ""));
  }

  result.set_exit_code(exit.exited ? exit.exit_code : 128 + exit.signal);
  if (!exit.exited && result.signal_name().empty()) result.set_signal_name(SignalName(exit.signal));
  result.set_wall_time_s(exit.wall_s);
  result.mutable_memory()->set_child_maxrss_bytes(MaxRssToBytes(exit.usage.ru_maxrss));
  if (result.outcome() != v1::OUTCOME_OK) result.set_stderr_tail(FitText(exit.stderr_tail, kMaxStderrTail, true));
  // The texts built here quote the child's stderr and the kill detail: within the limits, and UTF-8.
  result.set_message(FitText(result.message(), kMaxMessageText, false));

  // By construction the result now meets the coordinator's rules; should it not (a rule added to
  // ValidateResult and not met above), it is reported as `error` rather than refused and dropped.
  if (Status valid = ValidateResult(result, ""); !valid.ok()) {
    v1::Result fallback;
    fallback.set_outcome(v1::OUTCOME_ERROR);
    fallback.set_message(
        FitText("the worker built a result the coordinator would refuse: " + valid.message(), kMaxMessageText, false));
    fallback.set_exit_code(result.exit_code());
    fallback.set_wall_time_s(result.wall_time_s());
    *fallback.mutable_memory() = result.memory();
    return fallback;
  }
  return result;
}

}  // namespace tscale
