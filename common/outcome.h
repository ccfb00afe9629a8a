// Names of the wire enums as users see them ("ok", "exceeds_context", "fp32", "eager") and back.
#pragma once

#include <optional>
#include <string>

#include "common/model_config.h"
#include "tscale/v1/tscale.pb.h"

namespace tscale {

std::string OutcomeName(v1::Outcome outcome);

// The one definition of a length that works for a model (docs/report.md), shared by the wall finder and the
// report: the job ran to the end, so ok, or invalid (it ran; only its statistics were doubtful: too few
// samples, too noisy, or an implausible FLOP/s). exceeds_context, oom, timeout, crashed and error do not work;
// cancelled and lost say nothing about the model. Timings and memory figures come from ok jobs only.
bool OutcomeWorks(v1::Outcome outcome);
// cancelled and lost: a user's decision or infrastructure failing past the retry cap, no
// evidence about the model either way. The wall finder stops a search there; the report leaves such jobs out
// of a cell's verdict.
bool OutcomeSaysNothing(v1::Outcome outcome);
std::optional<v1::Outcome> ParseOutcome(const std::string& name);
std::string JobStateName(v1::JobState state);
std::string DTypeName(v1::DType dtype);
std::optional<v1::DType> ParseDType(const std::string& name);
std::string AttentionName(v1::AttentionImpl impl);
std::optional<v1::AttentionImpl> ParseAttention(const std::string& name);
// "forward" (also for WORKLOAD_UNSPECIFIED: jobs stored before the workload axis are forward), "decode".
std::string WorkloadName(v1::Workload workload);
std::optional<v1::Workload> ParseWorkload(const std::string& name);
// Training settings: "none" (also for CHECKPOINTING_UNSPECIFIED), "layers"; "next_token", "masked_lm",
// "seq2seq", and "auto" for TRAIN_LOSS_UNSPECIFIED (by architecture). The parsers take these names, and
// ParseTrainLoss "-" for "_" too ("next-token"); neither takes an unspecified value's name.
std::string CheckpointingName(v1::Checkpointing checkpointing);
std::optional<v1::Checkpointing> ParseCheckpointing(const std::string& name);
// The objective that fits an architecture: what TRAIN_LOSS_UNSPECIFIED resolves to (decoder next-token, encoder
// masked LM, encoder-decoder seq2seq).
v1::TrainLoss TrainLossFor(ArchKind arch);
std::string TrainLossName(v1::TrainLoss loss);
std::optional<v1::TrainLoss> ParseTrainLoss(const std::string& name);
std::string DeviceKindName(v1::DeviceKind kind);
std::optional<v1::DeviceKind> ParseDeviceKind(const std::string& name);

// "SIGSEGV" for 11, "SIG42" for unnamed numbers.
std::string SignalName(int signal_number);

}  // namespace tscale
