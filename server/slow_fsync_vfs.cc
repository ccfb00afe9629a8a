#include "server/slow_fsync_vfs.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace tscale::sql {
namespace {

// A file of the wrapping VFS: its methods forward to the default VFS's file, xSync after the delay.
struct SlowSyncFile {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, allocated right behind this struct
};
sqlite3_vfs* g_real_vfs = nullptr;
sqlite3_vfs g_slow_vfs;
std::chrono::microseconds g_sync_delay{0};

sqlite3_file* Real(sqlite3_file* file) {
  return reinterpret_cast<SlowSyncFile*>(file)->real;
}
int SlowClose(sqlite3_file* f) {
  return Real(f)->pMethods->xClose(Real(f));
}
int SlowRead(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xRead(Real(f), buffer, amount, offset);
}
int SlowWrite(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xWrite(Real(f), buffer, amount, offset);
}
int SlowTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int SlowSync(sqlite3_file* f, int flags) {
  std::this_thread::sleep_for(g_sync_delay);
  return Real(f)->pMethods->xSync(Real(f), flags);
}
int SlowFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int SlowLock(sqlite3_file* f, int level) {
  return Real(f)->pMethods->xLock(Real(f), level);
}
int SlowUnlock(sqlite3_file* f, int level) {
  return Real(f)->pMethods->xUnlock(Real(f), level);
}
int SlowCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int SlowFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SlowSectorSize(sqlite3_file* f) {
  return Real(f)->pMethods->xSectorSize(Real(f));
}
int SlowDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int SlowShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int SlowShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void SlowShmBarrier(sqlite3_file* f) {
  Real(f)->pMethods->xShmBarrier(Real(f));
}
int SlowShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int SlowFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, out);
}
int SlowUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return Real(f)->pMethods->xUnfetch(Real(f), offset, page);
}
const sqlite3_io_methods kSlowMethods = {3,
                                         SlowClose,
                                         SlowRead,
                                         SlowWrite,
                                         SlowTruncate,
                                         SlowSync,
                                         SlowFileSize,
                                         SlowLock,
                                         SlowUnlock,
                                         SlowCheckReservedLock,
                                         SlowFileControl,
                                         SlowSectorSize,
                                         SlowDeviceCharacteristics,
                                         SlowShmMap,
                                         SlowShmLock,
                                         SlowShmBarrier,
                                         SlowShmUnmap,
                                         SlowFetch,
                                         SlowUnfetch};

int SlowOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* slow = reinterpret_cast<SlowSyncFile*>(file);
  slow->real = reinterpret_cast<sqlite3_file*>(slow + 1);
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, slow->real, flags, out_flags);
  // SQLite calls xClose whenever pMethods is set, even after a failed open: mirror the real file's.
  slow->base.pMethods = slow->real->pMethods && slow->real->pMethods->iVersion >= 3 ? &kSlowMethods : nullptr;
  if (slow->real->pMethods && !slow->base.pMethods) {  // an older file version: do not wrap half of it
    slow->real->pMethods->xClose(slow->real);
    return SQLITE_CANTOPEN;
  }
  return rc;
}
int SlowDelete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real_vfs->xDelete(g_real_vfs, name, sync_dir);
}
int SlowAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real_vfs->xAccess(g_real_vfs, name, flags, out);
}
int SlowFullPathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return g_real_vfs->xFullPathname(g_real_vfs, name, size, out);
}

}  // namespace

const char* TestOnlySlowFsyncVfs() {
  static const char* name = []() -> const char* {
    const char* delay = std::getenv("TSCALE_TEST_FSYNC_DELAY_MS");
    if (delay == nullptr || *delay == '\0') return nullptr;
    g_real_vfs = sqlite3_vfs_find(nullptr);
    if (g_real_vfs == nullptr) return nullptr;
    g_sync_delay = std::chrono::microseconds(static_cast<int64_t>(std::atof(delay) * 1000.0));
    g_slow_vfs = *g_real_vfs;
    g_slow_vfs.zName = "tscale-test-slow-fsync";
    g_slow_vfs.szOsFile = static_cast<int>(sizeof(SlowSyncFile)) + g_real_vfs->szOsFile;
    g_slow_vfs.pNext = nullptr;
    g_slow_vfs.xOpen = SlowOpen;
    g_slow_vfs.xDelete = SlowDelete;
    g_slow_vfs.xAccess = SlowAccess;
    g_slow_vfs.xFullPathname = SlowFullPathname;
    if (sqlite3_vfs_register(&g_slow_vfs, 0) != SQLITE_OK) return nullptr;
    return g_slow_vfs.zName;
  }();
  return name;
}

}  // namespace tscale::sql
