// The SQL layer's round-trip contract (server/sql.h): inside a write transaction the PostgreSQL driver pipelines
// (Run defers, Send starts a query whose rows come later), SQLite runs everything at once, and on both a
// statement takes effect in the order it was sent or run, every failure reaches the write it belongs to, and a
// savepoint undoes only what came after it. One suite over both backends, on a real SQLite file and a real
// PostgreSQL server (tests/support/postgres_server.h).
#include <gtest/gtest.h>

#include "server/sql.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace tscale {
namespace {

enum class Backend { kSqlite, kPostgresql };

class SqlPipelineTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string target;
    if (GetParam() == Backend::kPostgresql) {
      if (!testing::PostgresAvailable()) GTEST_SKIP() << testing::PostgresUnavailableMessage();
      testing::PostgresServer* server = testing::SharedPostgresServer();
      ASSERT_NE(server, nullptr);
      auto uri = server->CreateFreshDatabase("pipeline");
      ASSERT_TRUE(uri.ok()) << uri.status().ToString();
      target = *uri;
    } else {
      target = dir_.File("pipeline.db");
    }
    ASSERT_TRUE(db_.Open(target).ok());
    ASSERT_TRUE(db_.Exec("CREATE TABLE t(k BIGINT PRIMARY KEY, v BIGINT NOT NULL)").ok());
  }
  bool postgres() const { return GetParam() == Backend::kPostgresql; }

  Status Insert(int64_t k, int64_t v) {
    sql::Statement insert(db_, "INSERT INTO t(k, v) VALUES(?, ?)");
    return insert.Bind(1, k).Bind(2, v).Run();
  }
  // Every row of t, "k=v" in key order, read outside any transaction.
  std::string Rows() {
    sql::Statement rows(db_, "SELECT k, v FROM t ORDER BY k");
    std::string out;
    while (rows.Step()) out += std::to_string(rows.ColumnInt(0)) + "=" + std::to_string(rows.ColumnInt(1)) + " ";
    EXPECT_TRUE(rows.status().ok()) << rows.status().ToString();
    return out;
  }

  testing::TempDir dir_;
  sql::Database db_;
};

TEST_P(SqlPipelineTest, StatementsTakeEffectInTheOrderTheyAreSentOrRun) {
  sql::WriteTransaction txn(db_);
  ASSERT_TRUE(txn.status().ok());
  ASSERT_TRUE(Insert(1, 10).ok());
  sql::Statement bump(db_, "UPDATE t SET v = v + 1 WHERE k = ?");
  ASSERT_TRUE(bump.Bind(1, 1).Run().ok());
  // Sent before the second insert: it sees one row, whenever its answer is read.
  sql::Statement before(db_, "SELECT COUNT(*), SUM(v) FROM t");
  before.Send();
  ASSERT_TRUE(Insert(2, 20).ok());
  sql::Statement returning(db_, "INSERT INTO t(k, v) VALUES(3, 30) RETURNING k");
  returning.Send();
  // Runs after the RETURNING insert, so it sees row 3 (the store's claim names its new attempt this way).
  sql::Statement follow(db_, "UPDATE t SET v = (SELECT MAX(k) FROM t) WHERE k = 2");
  ASSERT_TRUE(follow.Run().ok());
  ASSERT_TRUE(before.Step()) << before.status().ToString();
  EXPECT_EQ(before.ColumnInt(0), 1);
  EXPECT_EQ(before.ColumnInt(1), 11);
  ASSERT_TRUE(returning.Step()) << returning.status().ToString();
  EXPECT_EQ(returning.ColumnInt(0), 3);
  sql::Statement both(db_, "UPDATE t SET v = v * 2 WHERE k >= 2");
  ASSERT_TRUE(both.Run().ok());
  EXPECT_EQ(db_.Changes(), 2) << "Changes() counts the last statement, deferred or not";
  ASSERT_TRUE(db_.connection().Flush().ok());
  EXPECT_FALSE(db_.connection().Unsettled());
  // SQLite commits only once no statement is left part-way (the store's statements end with each write).
  before.Reset();
  returning.Reset();
  const Status committed = txn.Commit();
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  EXPECT_EQ(Rows(), "1=11 2=6 3=60 ");
}

TEST_P(SqlPipelineTest, AFailureReachesTheNextWaitAndASavepointUndoesOnlyWhatFollowedIt) {
  sql::WriteTransaction txn(db_);
  ASSERT_TRUE(txn.status().ok());
  ASSERT_TRUE(Insert(1, 10).ok());
  ASSERT_TRUE(sql::Statement(db_, "SAVEPOINT s").Run().ok());
  const Status duplicate = Insert(1, 99);  // PostgreSQL defers it: its failure comes later
  const Status skipped = Insert(2, 20);
  sql::Statement count(db_, "SELECT COUNT(*) FROM t");
  const bool counted = count.Step();
  if (postgres()) {
    EXPECT_TRUE(duplicate.ok()) << "sent, not yet answered";
    EXPECT_TRUE(db_.connection().Unsettled());
    EXPECT_FALSE(counted) << "the read after a failed statement reports it";
    EXPECT_NE(count.status().message().find("duplicate key"), std::string::npos) << count.status().ToString();
  } else {
    EXPECT_FALSE(duplicate.ok()) << "SQLite reports it at once";
    EXPECT_TRUE(skipped.ok());
    EXPECT_TRUE(counted);
  }
  ASSERT_TRUE(db_.Exec("ROLLBACK TO s").ok());
  ASSERT_TRUE(db_.Exec("RELEASE s").ok());
  EXPECT_FALSE(db_.connection().Unsettled()) << "the rollback to the savepoint settled the transaction";
  ASSERT_TRUE(Insert(4, 40).ok());
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(Rows(), "1=10 4=40 ");
}

TEST_P(SqlPipelineTest, AFailureAfterASentQueryIsLeftForFlushAndTheQueryKeepsItsRows) {
  sql::WriteTransaction txn(db_);
  ASSERT_TRUE(txn.status().ok());
  ASSERT_TRUE(Insert(1, 10).ok());
  sql::Statement read(db_, "SELECT v FROM t WHERE k = 1");
  read.Send();
  const Status duplicate = Insert(1, 99);
  ASSERT_TRUE(read.Step()) << "its own statement ran: " << read.status().ToString();
  EXPECT_EQ(read.ColumnInt(0), 10);
  const Status flushed = db_.connection().Flush();
  EXPECT_TRUE(!duplicate.ok() || !flushed.ok()) << "the failure was reported by neither Run nor Flush";
  if (postgres()) {
    EXPECT_FALSE(flushed.ok());
    EXPECT_FALSE(txn.Commit().ok()) << "an aborted transaction does not commit";
    EXPECT_EQ(Rows(), "");
  }
}

TEST_P(SqlPipelineTest, ACommitFailsOnADeferredFailureAndStoresNothing) {
  {
    sql::WriteTransaction txn(db_);
    ASSERT_TRUE(txn.status().ok());
    ASSERT_TRUE(Insert(1, 10).ok());
    ASSERT_TRUE(txn.Commit().ok());
  }
  sql::WriteTransaction txn(db_);
  ASSERT_TRUE(txn.status().ok());
  ASSERT_TRUE(Insert(2, 20).ok());
  const Status duplicate = Insert(1, 99);
  if (!duplicate.ok()) GTEST_SKIP() << "SQLite reported it at once; its transaction goes on";
  const Status committed = txn.Commit();
  EXPECT_FALSE(committed.ok());
  EXPECT_NE(committed.message().find("duplicate key"), std::string::npos) << committed.ToString();
  db_.Exec("ROLLBACK");
  EXPECT_EQ(Rows(), "1=10 ");
}

TEST_P(SqlPipelineTest, ACursorGoneBeforeItsAnswerLeavesItsStatementRun) {
  sql::WriteTransaction txn(db_);
  ASSERT_TRUE(txn.status().ok());
  {
    sql::Statement gone(db_, "INSERT INTO t(k, v) VALUES(5, 50) RETURNING k");
    gone.Send();
  }
  sql::Statement reset(db_, "INSERT INTO t(k, v) VALUES(?, 60) RETURNING k");
  reset.Bind(1, 6).Send();
  reset.Reset();
  ASSERT_TRUE(Insert(7, 70).ok());
  ASSERT_TRUE(db_.connection().Flush().ok());
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(Rows(), "5=50 6=60 7=70 ");
}

// A transaction PostgreSQL gave up on for the sake of others (a deadlock between coordinators' writes, a
// serialization failure) or a lock not granted in time is worth retrying: UNAVAILABLE, which a worker retries,
// not INTERNAL. Raised here with those SQLSTATEs, both waiting and pipelined.
TEST_P(SqlPipelineTest, ADeadlockOrALockTimeoutIsUnavailableNotInternal) {
  if (!postgres()) GTEST_SKIP() << "SQLite has one writer: no deadlock between writers";
  for (const char* state : {"40P01", "40001", "55P03"}) {
    const std::string raise =
        std::string("DO $$ BEGIN RAISE EXCEPTION 'as if' USING ERRCODE = '") + state + "'; END $$";
    EXPECT_EQ(db_.Exec(raise).code(), Status::Code::kUnavailable) << state;
    sql::WriteTransaction txn(db_);
    ASSERT_TRUE(txn.status().ok()) << txn.status().ToString();
    sql::Statement pipelined(db_, raise.c_str());
    (void)pipelined.Run();
    EXPECT_EQ(db_.connection().Flush().code(), Status::Code::kUnavailable) << state << " (pipelined)";
  }
  EXPECT_EQ(db_.Exec("SELECT no_such_column FROM t").code(), Status::Code::kInternal);
}

INSTANTIATE_TEST_SUITE_P(Backends, SqlPipelineTest, ::testing::Values(Backend::kSqlite, Backend::kPostgresql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
                         });

}  // namespace
}  // namespace tscale
