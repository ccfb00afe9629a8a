#include "common/safetensors.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

namespace tscale {
namespace {

// A safetensors file: 8-byte little-endian header length, the JSON header, `data_bytes` bytes of data.
std::string File(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\x01');
}

TEST(Safetensors, ParsesAValidFile) {
  const std::string header = R"({"__metadata__": {"format": "pt"},
    "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
    "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})";
  const std::string file = File(header, 28);
  auto parsed = ParseSafetensors(file, file.size());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->data_bytes, 28u);
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].name, "a");  // data order
  EXPECT_EQ(parsed->tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(parsed->metadata.at("format"), "pt");
}

TEST(Safetensors, MalformedHeadersAreClearErrors) {
  struct Case {
    std::string header;
    size_t data;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"not json", 0, "not valid JSON"},
      {"[1]", 0, "must be a JSON object"},
      {R"({"t": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4, "unknown dtype \"F33\""},
      {R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4, "non-negative integers"},
      {R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8, "4 bytes of data for 2 F32"},
      {R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4, "end before they begin"},
      {R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4, "data_offsets must be [begin, end]"},
      {R"({"t": {"dtype": "F32", "shape": [1]}})", 4, "data_offsets must be [begin, end]"},
      {R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 4]}})", 4,
       "overflows"},
      {R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
       12, "overlap"},
      {R"({"__metadata__": {"k": 1}})", 0, "__metadata__.k must be a string"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string file = File(c.header, c.data);
    auto parsed = ParseSafetensors(file, file.size());
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos) << parsed.status().message();
  }
}

TEST(Safetensors, TruncatedFilesAreDataLoss) {
  const std::string header = R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})";
  const std::string whole = File(header, 16);
  EXPECT_TRUE(ParseSafetensors(whole, whole.size()).ok());
  for (size_t cut : {size_t{3}, size_t{8}, size_t{20}, whole.size() - 1}) {
    SCOPED_TRACE(cut);
    auto parsed = ParseSafetensors(whole.substr(0, cut), cut);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Status::Code::kDataLoss) << parsed.status().message();
  }
  std::string huge = whole;
  huge[7] = '\x7f';  // a header length of ~9e18 bytes
  EXPECT_FALSE(ParseSafetensors(huge, huge.size()).ok());
}

TEST(Safetensors, ReadsTheHeaderFromAFile) {
  testing::TempDir dir;
  const std::string file = File(R"({"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]}})", 6);
  std::ofstream(dir.File("model.safetensors"), std::ios::binary) << file;
  auto parsed = ReadSafetensorsHeader(dir.File("model.safetensors"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->tensors.at(0).dtype, "F16");
  std::ofstream(dir.File("cut.safetensors"), std::ios::binary) << file.substr(0, file.size() - 2);
  auto cut = ReadSafetensorsHeader(dir.File("cut.safetensors"));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("cut.safetensors"), std::string::npos);
  EXPECT_EQ(ReadSafetensorsHeader(dir.File("missing.safetensors")).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace tscale
