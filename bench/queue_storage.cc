// What a queued job costs the coordinator's database: a real tscale-server (SQLite file, WAL, synchronous=FULL)
// takes one large sweep over every catalog model, and the program reports the submit's wall time, the database
// and WAL sizes right after it and after a clean shutdown, and the bytes per job; then reads the file to say
// where the bytes went (spec blobs, model configs). docs/performance.md, "Queue storage".
//
//   tscale_queue_storage --lengths 128..16384 --repetitions 100     # every catalog model: ~72 000 jobs
//
// Exit 0 when the submit succeeded and every planned job is in the database.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "server/sql.h"
#include "support/server_process.h"
#include "support/temp_dir.h"
#include "tscale/v1/tscale.grpc.pb.h"

namespace {

namespace v1 = tscale::v1;
using Clock = std::chrono::steady_clock;

int64_t FileSize(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

int64_t Scalar(tscale::sql::Database& db, const char* query) {
  tscale::sql::Statement statement(db, query);
  return statement.Step() ? statement.ColumnInt(0) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tscale queue storage: bytes per queued job and submit time for one large sweep"};
  int min_length = 128, max_length = 16384, repetitions = 100;
  bool exclude_tests = true;
  std::string server_binary = tscale::testing::kServerBinary;
  app.add_option("--server-binary", server_binary, "tscale-server to start (e.g. an older build, for a before/after)")
      ->capture_default_str();
  app.add_option("--min-length", min_length, "smallest length")->capture_default_str();
  app.add_option("--max-length", max_length, "largest length (doubling from the smallest)")->capture_default_str();
  app.add_option("--repetitions", repetitions, "repetitions per cell")->capture_default_str();
  app.add_flag("!--with-test-models", exclude_tests, "also queue the test catalog's tiny models");
  CLI11_PARSE(app, argc, argv);

  tscale::testing::TempDir dir;
  const std::string db_path = dir.File("queue.db");
  auto server = std::make_unique<tscale::testing::ServerProcess>(
      dir.path().string(), db_path, std::vector<std::string>{"--log-level", "warn"}, 0, "server.log", server_binary);
  if (!server->started()) {
    std::cerr << "server did not start:\n" << server->Log();
    return 1;
  }
  auto client = v1::TscaleService::NewStub(grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  v1::ListModelsResponse models;
  {
    grpc::ClientContext ctx;
    if (!client->ListModels(&ctx, v1::ListModelsRequest(), &models).ok()) return 1;
  }
  v1::SubmitSweepRequest submit;
  for (const auto& m : models.models())
    if (!exclude_tests || m.category() != "Test") submit.mutable_spec()->add_models(m.id());
  for (int length = min_length; length <= max_length; length *= 2) submit.mutable_spec()->add_seq_lengths(length);
  submit.mutable_spec()->set_repetitions(repetitions);
  submit.mutable_spec()->set_extend_context(true);  // every cell is queued (none refused for its context)

  v1::SubmitSweepResponse submitted;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  const auto start = Clock::now();
  const grpc::Status status = client->SubmitSweep(&ctx, submit, &submitted);
  const double submit_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!status.ok()) {
    std::cerr << "submit failed: " << status.error_message() << "\n";
    return 1;
  }
  const int64_t db_after_submit = FileSize(db_path), wal_after_submit = FileSize(db_path + "-wal");
  server->process().Stop();  // a clean shutdown checkpoints the WAL into the database
  server.reset();
  const int64_t db_final = FileSize(db_path), wal_final = FileSize(db_path + "-wal");

  tscale::sql::Database db;
  if (!db.Open(db_path).ok()) return 1;
  const int64_t jobs = Scalar(db, "SELECT COUNT(*) FROM jobs");
  const int64_t spec_bytes = Scalar(db, "SELECT SUM(LENGTH(spec)) FROM jobs");
  const int64_t configs = Scalar(db, "SELECT COUNT(*) FROM model_configs");
  const int64_t config_bytes = Scalar(db, "SELECT SUM(LENGTH(json)) FROM model_configs");
  const int64_t used_bytes =
      (Scalar(db, "PRAGMA page_count") - Scalar(db, "PRAGMA freelist_count")) * Scalar(db, "PRAGMA page_size");
  std::printf("models %d, lengths %d..%d, repetitions %d: %d jobs submitted, %lld in the database\n",
              submit.spec().models_size(), min_length, max_length, repetitions, submitted.job_count(),
              static_cast<long long>(jobs));
  std::printf("submit: %.2f s (%.0f jobs/s)\n", submit_s, submitted.job_count() / submit_s);
  std::printf("after the submit: database %.1f MB, WAL %.1f MB\n", db_after_submit / 1e6, wal_after_submit / 1e6);
  std::printf("after shutdown:   database %.1f MB, WAL %.1f MB; %.0f bytes per job (used pages / jobs)\n",
              db_final / 1e6, wal_final / 1e6, jobs > 0 ? static_cast<double>(used_bytes) / jobs : 0.0);
  // An older server (before schema version 7) has no model_configs table: -1 there.
  std::printf("spec blobs %.0f bytes per job on average; %lld distinct model configs, %.1f KB in all\n",
              jobs > 0 ? static_cast<double>(spec_bytes) / jobs : 0.0, static_cast<long long>(configs),
              config_bytes / 1e3);
  return jobs == submitted.job_count() ? 0 : 1;
}
