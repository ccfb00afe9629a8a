// Paths the build passes to tests (see tests/CMakeLists.txt), so tests run the real binaries and data.
#pragma once

namespace tscale::testing {
inline constexpr const char* kServerBinary = TSCALE_TEST_SERVER_BIN;
inline constexpr const char* kWorkerBinary = TSCALE_TEST_WORKER_BIN;
inline constexpr const char* kRunnerBinary = TSCALE_TEST_RUNNER_BIN;
inline constexpr const char* kClientBinary = TSCALE_TEST_CLIENT_BIN;
inline constexpr const char* kCatalogDir = TSCALE_TEST_CATALOG_DIR;
inline constexpr const char* kTestModelsDir = TSCALE_TEST_MODELS_DIR;
inline constexpr const char* kMisbehaveDir = TSCALE_TEST_MISBEHAVE_DIR;  // catalog of misbehave/* models
inline constexpr const char* kMisbehavingRunner = TSCALE_TEST_MISBEHAVING_RUNNER;
}  // namespace tscale::testing
