#include "common/result_validation.h"

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

namespace tscale {
namespace {

Status Field(const std::string& prefix, const std::string& name, const std::string& why) {
  return Status::InvalidArgument(prefix + name + ": " + why);
}

// Length of the well-formed UTF-8 sequence at the start of `text`, 0 when there is none.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length;
  uint8_t low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  return length;
}

// The path ("environment.hostname", "invalid_reasons") of the first string field of `message`, nested ones
// included, that is not well-formed UTF-8; empty when there is none. By reflection, so a string field added to
// the proto later is covered too.
std::string FirstInvalidUtf8Field(const google::protobuf::Message& message, const std::string& path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = path + field->name();
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      std::string scratch;
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i)
          if (!IsValidUtf8(reflection->GetRepeatedStringReference(message, field, i, &scratch))) return name;
      } else if (!IsValidUtf8(reflection->GetStringReference(message, field, &scratch))) {
        return name;
      }
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          std::string bad = FirstInvalidUtf8Field(reflection->GetRepeatedMessage(message, field, i), name + ".");
          if (!bad.empty()) return bad;
        }
      } else {
        std::string bad = FirstInvalidUtf8Field(reflection->GetMessage(message, field), name + ".");
        if (!bad.empty()) return bad;
      }
    }
  }
  return "";
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  while (!text.empty()) {
    const size_t length = Utf8SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

Status ValidateResult(const v1::Result& result, const std::string& field_prefix) {
  const std::string& p = field_prefix;
  if (!v1::Outcome_IsValid(result.outcome()) || result.outcome() == v1::OUTCOME_UNSPECIFIED)
    return Field(p, "outcome",
                 "must be one of the known outcomes, not " + std::to_string(static_cast<int>(result.outcome())));
  if (result.samples_ms_size() > kMaxSamplesPerResult) return Field(p, "samples_ms", "at most 1000000 samples");
  for (double sample : result.samples_ms())
    if (!std::isfinite(sample) || sample < 0) return Field(p, "samples_ms", "must be finite and >= 0");
  // A decode result's own samples are latencies too, held to the same rules (the byte bound below covers their
  // number together).
  const v1::DecodeStats& decode = result.decode();
  for (const auto& [name, values] : {std::pair{"decode.ttft_samples_ms", &decode.ttft_samples_ms()},
                                     std::pair{"decode.step_ms", &decode.step_ms()}}) {
    if (values->size() > kMaxSamplesPerResult) return Field(p, name, "at most 1000000 samples");
    for (double sample : *values)
      if (!std::isfinite(sample) || sample < 0) return Field(p, name, "must be finite and >= 0");
  }
  // A training step's losses: one per step run; a diverged step's NaN is information, so only their number is held.
  if (result.train().losses_size() > kMaxSamplesPerResult) return Field(p, "train.losses", "at most 1000000 losses");
  if (result.stderr_tail().size() > kMaxStderrTail) return Field(p, "stderr_tail", "at most 64 KiB");
  if (result.message().size() > kMaxMessageText) return Field(p, "message", "at most 64 KiB");
  if (result.invalid_reasons_size() > kMaxInvalidReasons) return Field(p, "invalid_reasons", "at most 64");

  if (std::string bad = FirstInvalidUtf8Field(result, ""); !bad.empty()) return Field(p, bad, "must be valid UTF-8");
  if (result.ByteSizeLong() > kMaxResultBytes)
    return Status::InvalidArgument((p.empty() ? "result" : p.substr(0, p.size() - (p.back() == '.'))) +
                                   ": at most 12 MiB in all");
  return Status::Ok();
}

}  // namespace tscale
