// Names of the wire enums as users see them ("ok", "exceeds_context", "fp32", "eager") and back.
#pragma once

#include <optional>
#include <string>

#include "tscale/v1/tscale.pb.h"

namespace tscale {

std::string OutcomeName(v1::Outcome outcome);
std::optional<v1::Outcome> ParseOutcome(const std::string& name);
std::string JobStateName(v1::JobState state);
std::string DTypeName(v1::DType dtype);
std::optional<v1::DType> ParseDType(const std::string& name);
std::string AttentionName(v1::AttentionImpl impl);
std::optional<v1::AttentionImpl> ParseAttention(const std::string& name);
std::string DeviceKindName(v1::DeviceKind kind);
std::optional<v1::DeviceKind> ParseDeviceKind(const std::string& name);

// "SIGSEGV" for 11, "SIG42" for unnamed numbers.
std::string SignalName(int signal_number);

}  // namespace tscale
