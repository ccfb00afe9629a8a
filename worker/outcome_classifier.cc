#include "worker/outcome_classifier.h"

#include <google/protobuf/util/json_util.h>

#include "common/host_info.h"
#include "common/outcome.h"
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

std::optional<v1::Result> ParseRunnerResult(const std::optional<std::string>& json) {
  if (!json) return std::nullopt;
  v1::Result result;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer runner may report more than this worker knows
  if (!google::protobuf::util::JsonStringToMessage(*json, &result, options).ok()) return std::nullopt;
  if (result.outcome() == v1::OUTCOME_UNSPECIFIED) return std::nullopt;
  return result;
}

}  // namespace

v1::Result ClassifyChildExit(const ChildExit& exit, const std::optional<std::string>& result_json, double deadline_s) {
  v1::Result result;
  const std::optional<v1::Result> reported = ParseRunnerResult(result_json);

  if (exit.killed_by_us == KillReason::kDeadline) {
    result.set_outcome(v1::OUTCOME_TIMEOUT);
    result.set_message("killed after " + std::to_string(exit.wall_s) + " s: the job's execution limit is " +
                       std::to_string(deadline_s) + " s");
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
  } else if (exit.exited && exit.exit_code == kRunnerExitResultWritten && reported) {
    result = *reported;
  } else if (exit.exited && exit.exit_code == kRunnerExitResultWritten) {
    result.set_outcome(v1::OUTCOME_ERROR);
    result.set_message("runner exited 0 without a readable result file");
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
  if (result.outcome() != v1::OUTCOME_OK) result.set_stderr_tail(exit.stderr_tail);
  return result;
}

}  // namespace tscale
