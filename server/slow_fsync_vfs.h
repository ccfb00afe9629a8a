// TEST ONLY: a slow disk on purpose. With TSCALE_TEST_FSYNC_DELAY_MS=<ms> set, every fsync of the database
// (WAL commits, checkpoints) takes that much longer, by way of an SQLite VFS that wraps the default one and
// sleeps in xSync. It reproduces a slow disk where a throttled block device cannot be made
// (bench/load_test.cc --fsync-delay-ms; docs/performance.md). Nothing else changes: reads, writes and locks go
// straight to the default VFS.
#pragma once

namespace tscale::sql {

// The VFS name to open databases with: nullptr (SQLite's default) unless TSCALE_TEST_FSYNC_DELAY_MS is set, in
// which case the wrapping VFS is registered once and its name returned.
const char* TestOnlySlowFsyncVfs();

}  // namespace tscale::sql
