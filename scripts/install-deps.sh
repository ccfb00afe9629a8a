#!/usr/bin/env bash
# Installs every Debian 12 package tscale needs to build, test and run its demo.
# Idempotent: safe to run again; only missing packages are fetched.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3
  libspdlog-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  openssl python3 clang libclang-rt-14-dev
  python3-grpcio python3-protobuf
  python3-yaml shellcheck  # tests/deploy/: the Kubernetes manifests and the Slurm script
  postgresql libpq-dev  # tests start a throwaway PostgreSQL 15; the scale-out store backend links libpq
)
# --bench: also the Python references the benchmarks compare against (bench/decode_reference.py,
# bench/train_reference.py), Debian's python3-torch on the same libtorch. Not needed to build or test.
[ "${1:-}" = --bench ] && packages+=(python3-torch python3-numpy)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libtorch 1.13 on Debian does its fp32 GEMMs through the libblas.so.3 alternative. The reference BLAS is
# ~30x slower and the pthread OpenBLAS fights libgomp's threads; pin the OpenMP build (platform-notes.md).
arch_triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
openmp_dir="/usr/lib/${arch_triplet}/openblas-openmp"
for alt in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  target="${openmp_dir}/${alt}"
  if [ -e "$target" ]; then
    $SUDO update-alternatives --set "${alt}-${arch_triplet}" "$target" >/dev/null
  fi
done
echo "install-deps: BLAS -> $(readlink -f /usr/lib/${arch_triplet}/libblas.so.3)"
