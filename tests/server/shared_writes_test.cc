// The group commit's shared writes (server/store_writer.h): a body's tails run at the commit, after every body of
// its group, and only if the body succeeded; a failing tail fails its group. With PostgreSQL a group of shareable
// writes runs as WriteMode::kShared; SQLite runs every group exclusively and its tails the same way. Both backends,
// real databases.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/store.h"
#include "support/postgres_server.h"
#include "support/store_test_peer.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

enum class Backend { kSqlite, kPostgresql };

class SharedWritesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string target = dir_.File("tscale.db");
    if (postgres()) {
      if (!testing::PostgresAvailable()) GTEST_SKIP() << testing::PostgresUnavailableMessage();
      testing::PostgresServer* server = testing::SharedPostgresServer();
      ASSERT_NE(server, nullptr);
      auto uri = server->CreateFreshDatabase("shared_writes");
      ASSERT_TRUE(uri.ok()) << uri.status().ToString();
      target = *uri;
    }
    auto opened = Store::Open(target, StoreOptions{});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  bool postgres() const { return GetParam() == Backend::kPostgresql; }

  // A statement that adds a sweep named `name`, as a body or a tail would.
  Status AddSweep(const std::string& name) {
    sql::Statement insert(StoreTestPeer::Db(*store_), "INSERT INTO sweeps(name, spec, created_ms) VALUES(?, ?, 1)");
    return insert.Bind(1, name).BindBlob(2, "").Run();
  }

  std::vector<std::string> SweepNames() {
    std::vector<std::string> names;
    auto sweeps = store_->ListSweeps(100, 1);
    EXPECT_TRUE(sweeps.ok()) << sweeps.status().ToString();
    if (sweeps.ok())
      for (const auto& sweep : *sweeps) names.push_back(sweep.name());
    std::sort(names.begin(), names.end());
    return names;
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
}

// Three shareable writes: the first holds the writer while the other two queue, so those two share one group. Of
// those, the one that fails takes its tail with it; the other's tail runs after both bodies.
TEST_P(SharedWritesTest, ATailRunsAtTheCommitAndOnlyIfItsBodySucceeded) {
  GroupCommitQueue& writer = StoreTestPeer::Writer(*store_);
  std::atomic<bool> release{false};
  std::atomic<bool> shared_seen{false}, deferring_seen{false};
  std::vector<std::string> order;  // guarded by the writer: bodies and tails run one at a time
  std::thread holder([&] {
    EXPECT_TRUE(StoreTestPeer::Write(
                    *store_,
                    [&]() -> Status {
                      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                      return AddSweep("holder");
                    },
                    WriteKind::kShareable)
                    .ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the holder's group is running
  Status kept_status, dropped_status;
  std::thread kept([&] {
    kept_status = StoreTestPeer::Write(
        *store_,
        [&]() -> Status {
          shared_seen = writer.shared();
          deferring_seen = writer.defers_to_commit();
          writer.AtCommit([&]() -> Status {
            order.push_back("kept tail");
            EXPECT_FALSE(writer.defers_to_commit()) << "a tail's own events must not be deferred again";
            return AddSweep("kept tail");
          });
          order.push_back("kept body");
          return AddSweep("kept body");
        },
        WriteKind::kShareable);
  });
  std::thread dropped([&] {
    dropped_status = StoreTestPeer::Write(
        *store_,
        [&]() -> Status {
          writer.AtCommit([&]() -> Status {
            order.push_back("dropped tail");
            return AddSweep("dropped tail");
          });
          order.push_back("dropped body");
          TSCALE_RETURN_IF_ERROR(AddSweep("dropped body"));
          return Status::Aborted("this body fails after leaving a tail");
        },
        WriteKind::kShareable);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both queued behind the holder
  const int64_t commits_before = store_->write_stats().commits;
  release = true;
  holder.join();
  kept.join();
  dropped.join();

  EXPECT_TRUE(kept_status.ok()) << kept_status.ToString();
  EXPECT_EQ(dropped_status.code(), Status::Code::kAborted) << dropped_status.ToString();
  EXPECT_EQ(SweepNames(), (std::vector<std::string>{"holder", "kept body", "kept tail"}));
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.back(), "kept tail") << "the tail runs after every body of its group";
  EXPECT_EQ(std::count(order.begin(), order.end(), "dropped tail"), 0);
  EXPECT_EQ(store_->write_stats().commits - commits_before, 1) << "the two queued writes did not share a group";
  // Only PostgreSQL runs writes beside other coordinators'; SQLite's groups are exclusive and defer nothing.
  EXPECT_EQ(shared_seen.load(), postgres());
  EXPECT_EQ(deferring_seen.load(), postgres());
  EXPECT_EQ(store_->write_stats().shared_commits > 0, postgres());
}

// A tail that fails fails its group: nothing the group's bodies wrote is kept, and the next write goes on.
TEST_P(SharedWritesTest, ATailThatFailsFailsItsGroupAndStoresNothing) {
  GroupCommitQueue& writer = StoreTestPeer::Writer(*store_);
  const Status failed = StoreTestPeer::Write(
      *store_,
      [&]() -> Status {
        writer.AtCommit([&]() -> Status {
          sql::Statement broken(StoreTestPeer::Db(*store_), "INSERT INTO no_such_table VALUES(1)");
          return broken.Run();
        });
        return AddSweep("body of a failed group");
      },
      WriteKind::kShareable);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("no_such_table"), std::string::npos) << failed.ToString();
  EXPECT_TRUE(SweepNames().empty());
  EXPECT_TRUE(StoreTestPeer::Write(*store_, [&] { return AddSweep("next"); }).ok());
  EXPECT_EQ(SweepNames(), std::vector<std::string>{"next"});
}

INSTANTIATE_TEST_SUITE_P(Backends, SharedWritesTest, ::testing::Values(Backend::kSqlite, Backend::kPostgresql),
                         BackendName);

}  // namespace
}  // namespace tscale
