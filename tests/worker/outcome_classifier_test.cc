#include "worker/outcome_classifier.h"

#include <gtest/gtest.h>
#include <signal.h>

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

}  // namespace
}  // namespace tscale
