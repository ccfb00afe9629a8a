#!/usr/bin/env bash
# Builds tscale against libtorch 2.x and runs the suites that touch it, the way lab Macs and GPU hosts build it:
# a Debian 13 (trixie) root made with debootstrap from the same Debian registry this host's apt uses, with
# trixie's libtorch 2.6, gRPC, protobuf, spdlog/fmt, Boost and GoogleTest (all newer than bookworm's).
#
# The root is cached under $TSCALE_LIBTORCH2_CACHE (default /var/cache/tscale) and rebuilt when the package list
# below changes; ccache lives inside it, so a second run recompiles only what changed. The build goes to
# build-libtorch2/ in this checkout. Needs root (debootstrap, chroot, bind mounts).
#
#   bash scripts/test-libtorch2.sh            # root (cached), build, runner + integration + e2e suites
#   TSCALE_LIBTORCH2_SUITES='torch' bash ...  # a ctest label regex of your own
#
# Exit status: 0 passed; 1 the build or a test failed (or a package in the list below is wrong); 77 this host
# cannot make or enter the root (not root, no mount permission, the mirror unreachable after retries), so nothing
# was tested. .ci/run reports 77 as a skip, loudly, and fails on anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"
cache="${TSCALE_LIBTORCH2_CACHE:-/var/cache/tscale}"
root="$cache/trixie-root"
suites="${TSCALE_LIBTORCH2_SUITES:-torch|integration|e2e}"

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3 libpq-dev libspdlog-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev
  openssl python3 python3-grpcio python3-protobuf
)
stamp="$(printf '%s\n' trixie "${packages[@]}" | sha256sum | cut -d' ' -f1)"

cannot() { echo "test-libtorch2: cannot run here: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || cannot "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
  cannot "debootstrap is not installed and apt-get could not install it"

# The Debian mirror this host already uses (deb822 sources or a one-line list), so nothing else is contacted.
mirror="$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)"
[ -n "$mirror" ] ||
  mirror="$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
[ -n "$mirror" ] || cannot "no Debian mirror in this host's apt sources"

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET_IN_ROOT [ro]
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2" || cannot "bind-mounting $1 into the root is not permitted"
  mounted+=("$root$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$root$2" || cannot "remounting $2 read-only is not permitted"; fi
}

# A run killed before its EXIT trap (a CI timeout) leaves the checkout, /dev and /sys bind-mounted in the root:
# unmount them before anything is deleted, and never let rm cross into another file system.
unmount_leftovers() {
  [ -d "$root" ] || return 0
  # findmnt exits 1 when nothing is mounted there: the usual case, not an error.
  { findmnt -Rrno TARGET "$root" 2>/dev/null || true; } | sort -r | while read -r target; do
    umount -l "$target" || true
  done
}
unmount_leftovers

start=$(date +%s)
if [ ! -f "$root/.tscale-packages" ] || [ "$(cat "$root/.tscale-packages")" != "$stamp" ]; then
  echo "test-libtorch2: making the trixie root in $root (mirror from this host's apt sources)"
  rm -rf --one-file-system "$root"
  mkdir -p "$cache"
  # A network hiccup is retried; a mirror that stays unreachable is this host's problem, not tscale's.
  for attempt in 1 2 3; do
    debootstrap --variant=minbase trixie "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 && break
    tail -n 5 "$cache/debootstrap.log"
    [ "$attempt" -lt 3 ] || cannot "debootstrap of trixie from $mirror failed 3 times ($cache/debootstrap.log)"
    rm -rf --one-file-system "$root"
    sleep $((attempt * 20))
  done
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  chroot "$root" true 2>/dev/null || cannot "chroot into $root is not permitted"
  # The first failure may be the network; a second, with the index fresh, is the package list (exit 1).
  installed=0 updated=0
  for attempt in 1 2; do
    chroot "$root" apt-get update -qq || { sleep 20; continue; }
    updated=1
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends "${packages[@]}" \
      >"$cache/packages.log" 2>&1 && { installed=1; break; }
    tail -n 20 "$cache/packages.log"
    sleep 20
  done
  [ "$updated" = 1 ] || cannot "apt-get update inside the root failed twice (the mirror is unreachable)"
  [ "$installed" = 1 ] || { echo "test-libtorch2: installing the package list failed ($cache/packages.log)" >&2; exit 1; }
  # As on the host (install-deps.sh): the OpenMP OpenBLAS behind libblas.so.3, not the reference BLAS.
  chroot "$root" bash -c 'arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu);
    for alt in libblas.so.3 liblapack.so.3; do
      t=/usr/lib/$arch/openblas-openmp/$alt; [ -e "$t" ] && update-alternatives --set "$alt-$arch" "$t" >/dev/null;
    done; true'
  echo "$stamp" >"$root/.tscale-packages"
  echo "test-libtorch2: root ready in $(($(date +%s) - start)) s"
fi
torch_version="$(chroot "$root" dpkg-query -W -f='${Version}' libtorch-dev)"
echo "test-libtorch2: libtorch-dev $torch_version"

mount -t proc proc "$root/proc" 2>/dev/null || cannot "mounting /proc in the root is not permitted"
mounted+=("$root/proc")
bind /dev /dev
bind /sys /sys
mkdir -p "$root/dev/shm" && mount -t tmpfs tmpfs "$root/dev/shm" && mounted+=("$root/dev/shm")
bind "$src" /src
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"

chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin CCACHE_DIR=/root/.ccache \
  TSCALE_SUITES="$suites" bash -c '
  set -euo pipefail
  cd /src
  jobs=$(nproc)
  build=build-libtorch2
  [ -f $build/CMakeCache.txt ] || cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  # Warnings are on (tscale_warnings); the log is kept so libtorch deprecation warnings in our code show up.
  rc=0
  cmake --build $build -j "$jobs" >$build/build.log 2>&1 || rc=$?
  grep -E "warning:|error:|FAILED" $build/build.log || true
  [ "$rc" -eq 0 ] || { tail -n 30 $build/build.log; exit "$rc"; }
  if grep -E "warning:.*(deprecated|Deprecated)" $build/build.log | grep -v "^/usr/" >/dev/null; then
    echo "test-libtorch2: deprecation warnings in tscale code:"; grep -E "deprecated" $build/build.log; exit 1
  fi
  # The 2.x side of every libtorch-version guard was compiled: the objects reference the API behind it
  # (docs/libtorch-versions.md lists the guards).
  objects=$build/runner/CMakeFiles/tscale_runner_lib.dir
  for check in "attention.cc.o scaled_dot_product_attention" "device.cc.o at::detail::getMPSHooks" \
               "autocast.cc.o at::autocast::set_autocast_enabled"; do
    set -- $check
    # Through a file, not a pipe: grep -q stops reading at the first match, and nm then dies of SIGPIPE, which
    # pipefail would report as a failed check.
    nm -C "$objects/$1" >/tmp/tscale-nm.txt
    grep -q "$2" /tmp/tscale-nm.txt || { echo "test-libtorch2: $1 does not use $2: a 2.x guard was not compiled"; exit 1; }
  done
  echo "test-libtorch2: the 2.x guards are compiled in (scaled_dot_product_attention, MPS allocator hooks, per-device-type autocast)"
  ctest --test-dir $build -L "$TSCALE_SUITES" --output-on-failure -j "$jobs" --timeout 600
'
echo "test-libtorch2: done in $(($(date +%s) - start)) s (libtorch $torch_version)"
