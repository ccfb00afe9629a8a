#include "worker/outcome_classifier.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/result_validation.h"
#include "common/runner_protocol.h"

namespace tscale {
namespace {

ChildExit Exited(int code, std::string stderr_tail = "") {
  ChildExit e;
  e.exited = true;
  e.exit_code = code;
  e.stderr_tail = std::move(stderr_tail);
  e.usage.ru_maxrss = 1000;
  return e;
}

ChildExit Signaled(int signal) {
  ChildExit e;
  e.signal = signal;
  e.stderr_tail = "Segmentation fault\n";
  return e;
}

TEST(OutcomeClassifier, RunnerResultIsKept) {
  const std::string json = R"({"outcome": "OUTCOME_OK", "parameterCount": "42", "latency": {"medianMs": 3.5}})";
  v1::Result r = ClassifyChildExit(Exited(kRunnerExitResultWritten), json, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(r.parameter_count(), 42);
  EXPECT_DOUBLE_EQ(r.latency().median_ms(), 3.5);
  EXPECT_TRUE(r.stderr_tail().empty());  // kept only for failures
#ifdef __linux__
  EXPECT_EQ(r.memory().child_maxrss_bytes(), 1000 * 1024);  // ru_maxrss is KiB on Linux
#endif
}

TEST(OutcomeClassifier, ExitZeroWithoutResultIsError) {
  v1::Result r = ClassifyChildExit(Exited(0, "boom\n"), std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
  EXPECT_EQ(r.stderr_tail(), "boom\n");
  v1::Result garbage = ClassifyChildExit(Exited(0), std::string("{not json"), 60);
  EXPECT_EQ(garbage.outcome(), v1::OUTCOME_ERROR);
}

TEST(OutcomeClassifier, NonZeroExitIsErrorWithLastStderrLine) {
  v1::Result r = ClassifyChildExit(Exited(1, "loading\nRuntimeError: shape mismatch\n"), std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_NE(r.message().find("code 1: RuntimeError: shape mismatch"), std::string::npos) << r.message();
}

TEST(OutcomeClassifier, OomExitCodeIsOom) {
  v1::Result r = ClassifyChildExit(Exited(kRunnerExitOutOfMemory, "std::bad_alloc\n"), std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OOM);
}

TEST(OutcomeClassifier, SignalIsCrashWithName) {
  v1::Result r = ClassifyChildExit(Signaled(SIGSEGV), std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_CRASHED);
  EXPECT_EQ(r.signal_name(), "SIGSEGV");
  EXPECT_EQ(r.exit_code(), 128 + SIGSEGV);
  EXPECT_EQ(r.stderr_tail(), "Segmentation fault\n");
  EXPECT_EQ(ClassifyChildExit(Signaled(SIGABRT), std::nullopt, 60).signal_name(), "SIGABRT");
}

TEST(OutcomeClassifier, BareSigkillIsNotOom) {
  v1::Result r = ClassifyChildExit(Signaled(SIGKILL), std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_CRASHED);
  EXPECT_EQ(r.signal_name(), "SIGKILL");
}

TEST(OutcomeClassifier, DeadlineKillIsTimeoutEvenWithSigkill) {
  ChildExit e = Signaled(SIGKILL);
  e.killed_by_us = KillReason::kDeadline;
  e.wall_s = 61;
  v1::Result r = ClassifyChildExit(e, std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_NE(r.message().find("execution limit"), std::string::npos);
}

// A runner killed because the worker could not contain it (no cgroup) did not run out of memory.
TEST(OutcomeClassifier, SetupFailureIsNeverOom) {
  ChildExit e = Signaled(SIGKILL);
  e.killed_by_us = KillReason::kSetupFailed;
  e.kill_detail = "cannot apply the memory limit: cgroup.procs: permission denied";
  v1::Result r = ClassifyChildExit(e, std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
  EXPECT_NE(r.message().find("cannot apply the memory limit"), std::string::npos) << r.message();
}

// --- Result files the coordinator would refuse (found by the runner_result fuzz target) -----------------
// Each must become `error` at once, its message naming the field, and the result must pass the coordinator's
// check of a completion (ValidateResult is what ValidateComplete applies to the result): a refused completion
// is dropped by the worker and the job reruns until `lost`.

// The result a runner's exit 0 with `json` as its result file is classified as; checked to be storable.
v1::Result FromResultFile(const std::string& json) {
  v1::Result r = ClassifyChildExit(Exited(kRunnerExitResultWritten), json, 60);
  Status valid = ValidateResult(r);
  EXPECT_TRUE(valid.ok()) << valid.ToString();
  return r;
}

void ExpectErrorNaming(const v1::Result& r, const std::string& field) {
  EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR) << r.message();
  EXPECT_NE(r.message().find("invalid result file"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(field + ":"), std::string::npos) << r.message();
  EXPECT_EQ(r.samples_ms_size(), 0);  // nothing of the refused file is passed on as a measurement
}

TEST(OutcomeClassifier, OutcomeOutsideTheEnumIsError) {
  ExpectErrorNaming(FromResultFile(R"({"outcome": 99})"), "outcome");
  ExpectErrorNaming(FromResultFile(R"({"outcome": -1})"), "outcome");
  ExpectErrorNaming(FromResultFile(R"({"outcome": "OUTCOME_UNSPECIFIED", "samplesMs": [1.0]})"), "outcome");
  ExpectErrorNaming(FromResultFile("{}"), "outcome");
}

TEST(OutcomeClassifier, NonFiniteOrNegativeSampleIsError) {
  for (const char* sample : {R"("NaN")", R"("Infinity")", R"("-Infinity")", "-0.5"}) {
    SCOPED_TRACE(sample);
    ExpectErrorNaming(FromResultFile(std::string(R"({"outcome": "OUTCOME_OK", "samplesMs": [1.5, )") + sample + "]}"),
                      "samples_ms");
  }
}

TEST(OutcomeClassifier, TooManyInvalidReasonsIsError) {
  auto file = [](int reasons) {
    std::string json = R"({"outcome": "OUTCOME_INVALID", "invalidReasons": [)";
    for (int i = 0; i < reasons; ++i) json += std::string(i ? "," : "") + "\"r\"";
    return json + "]}";
  };
  ExpectErrorNaming(FromResultFile(file(kMaxInvalidReasons + 1)), "invalid_reasons");
  v1::Result at_limit = FromResultFile(file(kMaxInvalidReasons));
  EXPECT_EQ(at_limit.outcome(), v1::OUTCOME_INVALID);
  EXPECT_EQ(at_limit.invalid_reasons_size(), kMaxInvalidReasons);
}

TEST(OutcomeClassifier, OversizedMessageIsError) {
  ExpectErrorNaming(
      FromResultFile(R"({"outcome": "OUTCOME_ERROR", "message": ")" + std::string(kMaxMessageText + 1, 'm') + "\"}"),
      "message");
  v1::Result at_limit =
      FromResultFile(R"({"outcome": "OUTCOME_ERROR", "message": ")" + std::string(kMaxMessageText, 'm') + "\"}");
  EXPECT_EQ(at_limit.message().size(), kMaxMessageText);
}

TEST(OutcomeClassifier, OversizedStderrTailIsError) {
  ExpectErrorNaming(FromResultFile(R"({"outcome": "OUTCOME_OK", "stderrTail": ")" +
                                   std::string(kMaxStderrTail + 1, 'e') + "\"}"),
                    "stderr_tail");
}

TEST(OutcomeClassifier, UnparseableResultFileIsErrorSayingWhy) {
  for (const char* json : {"{not json", R"({"outcome": "OUTCOME_OK", "samplesMs": "many"})", R"({"outcome": true})"}) {
    SCOPED_TRACE(json);
    v1::Result r = ClassifyChildExit(Exited(kRunnerExitResultWritten), std::string(json), 60);
    EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
    EXPECT_NE(r.message().find("not a tscale.v1.Result"), std::string::npos) << r.message();
    EXPECT_TRUE(ValidateResult(r).ok());
  }
}

// The worker's own texts quote the child's stderr: cut to the limits, and never anything but UTF-8 (protobuf
// refuses to parse a completion with a stray byte in a string field).
TEST(OutcomeClassifier, StderrIsFittedToTheLimitsAndUtf8) {
  std::string tail = std::string(kMaxStderrTail, 'x') + "\xe2\x82\xac ok \xff\xfe\n" + "last \xe2\x82";
  v1::Result r = ClassifyChildExit(Exited(1, tail), std::nullopt, 60);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
  EXPECT_TRUE(ValidateResult(r).ok()) << ValidateResult(r).ToString();
  EXPECT_EQ(r.stderr_tail().size(), kMaxStderrTail);  // the last bytes, one replacement per bad byte
  EXPECT_NE(r.stderr_tail().find("\xe2\x82\xac ok ??\nlast ??"), std::string::npos);
  EXPECT_NE(r.message().find("code 1: last ??"), std::string::npos) << r.message();

  ChildExit killed = Signaled(SIGKILL);
  killed.killed_by_us = KillReason::kMemoryLimit;
  killed.kill_detail = std::string(kMaxMessageText + 100, 'k') + "\xc3";
  v1::Result oom = ClassifyChildExit(killed, std::nullopt, 60);
  EXPECT_EQ(oom.outcome(), v1::OUTCOME_OOM);
  EXPECT_TRUE(ValidateResult(oom).ok()) << ValidateResult(oom).ToString();
}

TEST(OutcomeClassifier, ResultFileTextThatIsNotUtf8IsError) {
  // JSON escapes can spell a lone surrogate; should the JSON parser take it, the result is refused by name.
  v1::Result r = FromResultFile(R"({"outcome": "OUTCOME_OK", "environment": {"hostname": "a\ud800b"}})");
  if (r.outcome() == v1::OUTCOME_OK) {
    EXPECT_EQ(r.environment().hostname().find('\xed'), std::string::npos);
  } else {
    EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR);
  }
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("ab\xe2\x82"));        // truncated
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac \xf0\x9f\x98\x80 plain"));
}

// A valid result file is passed on as the runner wrote it: only what the worker itself observed is added.
TEST(OutcomeClassifier, ValidResultFileIsUnchanged) {
  v1::Result written;
  written.set_outcome(v1::OUTCOME_INVALID);
  written.set_message(std::string(kMaxMessageText, 'm'));
  for (int i = 0; i < kMaxInvalidReasons; ++i) written.add_invalid_reasons("reason " + std::to_string(i));
  written.set_load_time_ms(12.5);
  written.set_parameter_count(1234567);
  written.mutable_latency()->set_median_ms(3.25);
  written.set_tokens_per_second(4096);
  written.mutable_memory()->set_peak_rss_bytes(1 << 30);
  for (double sample : {0.0, 1.5, 3.25, 1e6}) written.add_samples_ms(sample);
  written.mutable_environment()->set_hostname("h\xc3\xb6st");  // UTF-8 is kept as it is
  written.mutable_environment()->set_threads(8);
  written.set_stderr_tail("warning: \xe2\x82\xac");
  written.set_warmup_iters(3);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(written, &json).ok());

  const v1::Result r = FromResultFile(json);
  v1::Result expected = written;
  // What the worker sets from the exit it saw (exit_code 0, wall time, child max RSS) and, for a result that is
  // not `ok`, its own stderr tail of the runner.
  expected.set_exit_code(r.exit_code());
  expected.set_wall_time_s(r.wall_time_s());
  expected.mutable_memory()->set_child_maxrss_bytes(r.memory().child_maxrss_bytes());
  expected.set_stderr_tail(r.stderr_tail());
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(expected, r)) << diff;
  EXPECT_EQ(r.outcome(), v1::OUTCOME_INVALID);
  EXPECT_EQ(r.samples_ms_size(), 4);

  // An `ok` result keeps the runner's own stderr tail too.
  written.set_outcome(v1::OUTCOME_OK);
  written.clear_invalid_reasons();
  json.clear();  // MessageToJsonString appends
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(written, &json).ok());
  const v1::Result ok = FromResultFile(json);
  EXPECT_EQ(ok.outcome(), v1::OUTCOME_OK) << ok.message().substr(0, 300);
  EXPECT_EQ(ok.stderr_tail(), written.stderr_tail());
  EXPECT_TRUE(ok.message() == written.message());  // 64 KiB: not printed
  EXPECT_EQ(ok.samples_ms_size(), 4);
}

// Every input the fuzz target once crashed on (tests/fuzz/regressions/runner_result) becomes `error`.
TEST(OutcomeClassifier, FuzzRegressionsBecomeErrors) {
  const std::filesystem::path dir = std::filesystem::path(TSCALE_TEST_FUZZ_REGRESSIONS_DIR) / "runner_result";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    v1::Result r = FromResultFile(text.str());
    EXPECT_EQ(r.outcome(), v1::OUTCOME_ERROR) << r.message();
    EXPECT_NE(r.message().find("invalid result file"), std::string::npos) << r.message();
    ++files;
  }
  EXPECT_GE(files, 6);
}

}  // namespace
}  // namespace tscale
