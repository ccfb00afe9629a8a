#include "server/auth.h"

#include <gtest/gtest.h>

namespace tscale {
namespace {

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-tokeN"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-toke"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(Authenticator, DisabledWhenNoToken) {
  Authenticator auth("", "");
  EXPECT_FALSE(auth.enabled(Audience::kClient));
  EXPECT_FALSE(auth.enabled(Audience::kWorker));
  Authenticator client_only("c", "");
  EXPECT_TRUE(client_only.enabled(Audience::kClient));
  EXPECT_FALSE(client_only.enabled(Audience::kWorker));
}

}  // namespace
}  // namespace tscale
