// The rules a Result must meet to be stored. One definition for both sides: the coordinator checks every
// completion against them (ValidateComplete, server/request_validation.cc) and the worker checks every result
// file a runner writes (ClassifyChildExit, worker/outcome_classifier.cc), so that nothing the worker reports
// is refused with INVALID_ARGUMENT (which the worker takes as final: the result would be dropped and the job
// rerun until `lost`).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

inline constexpr int kMaxSamplesPerResult = 1'000'000;
inline constexpr size_t kMaxStderrTail = 64 * 1024;
inline constexpr size_t kMaxMessageText = 64 * 1024;
inline constexpr int kMaxInvalidReasons = 64;
// The whole Result, serialized. The coordinator receives messages of up to 16 MiB; this leaves room for the
// rest of the request (1,000,000 samples take about 8 MiB).
inline constexpr size_t kMaxResultBytes = 12 * 1024 * 1024;

// Ok, or InvalidArgument "<field_prefix><field>: <why>" for the first rule the result breaks: an outcome
// that is a known value other than OUTCOME_UNSPECIFIED; at most kMaxSamplesPerResult samples, each finite and
// >= 0 (samples_ms, and a decode result's ttft_samples_ms and step_ms); at most kMaxInvalidReasons invalid reasons;
// message and stderr tail within their limits; every text well-formed UTF-8 (protobuf refuses to parse a message with
// anything else); at most kMaxResultBytes in all.
Status ValidateResult(const v1::Result& result, const std::string& field_prefix = "result.");

// True when `text` is well-formed UTF-8: no stray continuation bytes, no truncated, overlong or surrogate
// sequences, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

}  // namespace tscale
