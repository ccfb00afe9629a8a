// The worker's state directory. Outbox results are delivered with the worker's token and the runner's
// peak-FLOP/s cache decides `invalid` verdicts, so whoever can write into this directory can plant results
// or flip verdicts: it must be private to the worker's user. A predictable shared path such as
// /tmp/tscale-worker-<id> could be created first by another local user; the default is a per-user one.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace tscale {

using EnvLookup = std::function<const char*(const char*)>;

// The directory when --state-dir is not given: worker-<id> under $STATE_DIRECTORY (systemd's
// StateDirectory=; its first entry), else under $XDG_STATE_HOME/tscale, else under $HOME/.local/state/tscale.
// One directory per worker id, because two workers on one host must never share an outbox. Relative values
// are ignored, as the XDG spec says. FAILED_PRECONDITION when none of the three is set.
StatusOr<std::string> DefaultStateDir(const std::string& worker_id, const EnvLookup& env = std::getenv);

// Creates `dir` and its missing parents with mode 0700, then accepts it only if it is a directory owned by
// this process's user that neither its group nor others may write to (PERMISSION_DENIED naming the path
// and what is wrong otherwise). An existing directory is checked, never repaired: a directory someone else
// could write to may already hold their files.
// A symbolic link is refused as well: whoever owns the link could re-point it after the check.
Status PrepareStateDir(const std::string& dir);

// Takes an exclusive lock on dir/lock for as long as the returned descriptor stays open (the process's life).
// ALREADY_EXISTS when another process holds it: a second daemon with the same id on this host, which shares the
// directory (the default is one per id) and so the instance id the coordinator tells daemons apart by.
StatusOr<int> LockStateDir(const std::string& dir);

}  // namespace tscale
