#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace tscale {
namespace {

TEST(ByteSize, ParsesUnitsAsPowersOf1024) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(*ParseByteSize("512M"), 512LL << 20);
  EXPECT_EQ(*ParseByteSize("2G"), 2LL << 30);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), 3LL << 29);
  EXPECT_EQ(*ParseByteSize("64kb"), 64LL << 10);
  EXPECT_EQ(*ParseByteSize("1T"), 1LL << 40);
  EXPECT_EQ(*ParseByteSize("0"), 0);
}

TEST(ByteSize, RejectsWhatIsNotASize) {
  for (const char* bad : {"", "G", "12Q", "-1M", "lots", "1e30G", "nan"}) {
    SCOPED_TRACE(bad);
    auto parsed = ParseByteSize(bad);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.status().message().find("is not a size"), std::string::npos);
  }
}

}  // namespace
}  // namespace tscale
