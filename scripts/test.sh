#!/usr/bin/env bash
# The whole test suite: Release build + tests, ASan/UBSan build + tests, bounded fuzzing, and the
# AArch64 NEON kernel tests under qemu-user.
# Environment: FUZZ_SECONDS (per fuzz target, default 30), SKIP_SANITIZE=1, SKIP_FUZZ=1, SKIP_ARM=1.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
SLM_DEPS_ARM=1 bash scripts/deps.sh
bash scripts/npm_deps.sh

echo "== release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSLM_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== ASan+UBSan build + tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLM_SANITIZE=ON -DSLM_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     SLM_SANITIZED=1 ctest --output-on-failure -j"$jobs")
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  echo "== bounded fuzzing (libFuzzer, ${FUZZ_SECONDS:-30}s per target)"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLM_FUZZ=ON -DSLM_SANITIZE=ON >/dev/null
  cmake --build build-fuzz -j"$jobs"
  for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=build-fuzz/corpus-$name
    mkdir -p "$corpus"
    seeds=fuzz/seeds/${name#fuzz_}
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    echo "-- $name"
    "$f" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | tail -5
  done
fi
# AArch64 NEON kernels: cross-built, run under qemu-user with three emulated CPUs (SKIP_ARM=1 skips)
bash scripts/test_arm.sh
echo "== all tests passed"
