#include "common/outcome.h"

#include <csignal>
#include <cstring>

namespace tscale {
namespace {

// The wire enum names share a prefix ("OUTCOME_EXCEEDS_CONTEXT"); users see the lower-case rest.
template <typename Enum>
std::string ShortName(const std::string& full, const char* prefix) {
  std::string out = full.rfind(prefix, 0) == 0 ? full.substr(std::strlen(prefix)) : full;
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

template <typename Enum, typename NameFn, typename ParseFn>
std::optional<Enum> ParseShortName(const std::string& name, const char* prefix, NameFn, ParseFn parse) {
  std::string full = prefix;
  for (char ch : name) full += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  Enum value{};
  if (!parse(full, &value) || static_cast<int>(value) == 0) return std::nullopt;
  return value;
}

}  // namespace

std::string OutcomeName(v1::Outcome outcome) {
  return ShortName<v1::Outcome>(v1::Outcome_Name(outcome), "OUTCOME_");
}
bool OutcomeWorks(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_OK || outcome == v1::OUTCOME_INVALID;
}
bool OutcomeSaysNothing(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_CANCELLED || outcome == v1::OUTCOME_LOST;
}
std::optional<v1::Outcome> ParseOutcome(const std::string& name) {
  return ParseShortName<v1::Outcome>(name, "OUTCOME_", v1::Outcome_Name<v1::Outcome>, v1::Outcome_Parse);
}
std::string JobStateName(v1::JobState state) {
  return ShortName<v1::JobState>(v1::JobState_Name(state), "JOB_STATE_");
}
std::string DTypeName(v1::DType dtype) {
  if (dtype == v1::DTYPE_UNSPECIFIED) dtype = v1::DTYPE_FP32;
  return ShortName<v1::DType>(v1::DType_Name(dtype), "DTYPE_");
}
std::optional<v1::DType> ParseDType(const std::string& name) {
  return ParseShortName<v1::DType>(name, "DTYPE_", v1::DType_Name<v1::DType>, v1::DType_Parse);
}
std::string AttentionName(v1::AttentionImpl impl) {
  if (impl == v1::ATTENTION_IMPL_UNSPECIFIED) impl = v1::ATTENTION_IMPL_EAGER;
  return ShortName<v1::AttentionImpl>(v1::AttentionImpl_Name(impl), "ATTENTION_IMPL_");
}
std::optional<v1::AttentionImpl> ParseAttention(const std::string& name) {
  return ParseShortName<v1::AttentionImpl>(name, "ATTENTION_IMPL_", v1::AttentionImpl_Name<v1::AttentionImpl>,
                                           v1::AttentionImpl_Parse);
}
std::string WorkloadName(v1::Workload workload) {
  if (workload == v1::WORKLOAD_UNSPECIFIED) workload = v1::WORKLOAD_FORWARD;
  return ShortName<v1::Workload>(v1::Workload_Name(workload), "WORKLOAD_");
}
std::optional<v1::Workload> ParseWorkload(const std::string& name) {
  return ParseShortName<v1::Workload>(name, "WORKLOAD_", v1::Workload_Name<v1::Workload>, v1::Workload_Parse);
}
std::string CheckpointingName(v1::Checkpointing checkpointing) {
  if (checkpointing == v1::CHECKPOINTING_UNSPECIFIED) checkpointing = v1::CHECKPOINTING_NONE;
  return ShortName<v1::Checkpointing>(v1::Checkpointing_Name(checkpointing), "CHECKPOINTING_");
}
std::optional<v1::Checkpointing> ParseCheckpointing(const std::string& name) {
  return ParseShortName<v1::Checkpointing>(name, "CHECKPOINTING_", v1::Checkpointing_Name<v1::Checkpointing>,
                                           v1::Checkpointing_Parse);
}
v1::TrainLoss TrainLossFor(ArchKind arch) {
  switch (arch) {
    case ArchKind::kDecoder:
      return v1::TRAIN_LOSS_NEXT_TOKEN;
    case ArchKind::kEncoder:
      return v1::TRAIN_LOSS_MASKED_LM;
    case ArchKind::kEncoderDecoder:
      return v1::TRAIN_LOSS_SEQ2SEQ;
  }
  return v1::TRAIN_LOSS_UNSPECIFIED;
}
std::string TrainLossName(v1::TrainLoss loss) {
  if (loss == v1::TRAIN_LOSS_UNSPECIFIED) return "auto";
  return ShortName<v1::TrainLoss>(v1::TrainLoss_Name(loss), "TRAIN_LOSS_");
}
std::optional<v1::TrainLoss> ParseTrainLoss(const std::string& name) {
  std::string underscored = name;
  for (char& ch : underscored)
    if (ch == '-') ch = '_';
  return ParseShortName<v1::TrainLoss>(underscored, "TRAIN_LOSS_", v1::TrainLoss_Name<v1::TrainLoss>,
                                       v1::TrainLoss_Parse);
}
std::string DeviceKindName(v1::DeviceKind kind) {
  if (kind == v1::DEVICE_KIND_UNSPECIFIED) return "any";
  return ShortName<v1::DeviceKind>(v1::DeviceKind_Name(kind), "DEVICE_KIND_");
}
std::optional<v1::DeviceKind> ParseDeviceKind(const std::string& name) {
  return ParseShortName<v1::DeviceKind>(name, "DEVICE_KIND_", v1::DeviceKind_Name<v1::DeviceKind>,
                                        v1::DeviceKind_Parse);
}

std::string SignalName(int signal_number) {
  switch (signal_number) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGSYS:
      return "SIGSYS";
    case SIGXCPU:
      return "SIGXCPU";
    case SIGXFSZ:
      return "SIGXFSZ";
    default:
      return "SIG" + std::to_string(signal_number);
  }
}

}  // namespace tscale
