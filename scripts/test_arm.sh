#!/usr/bin/env bash
# AArch64 NEON kernels: cross-build the kernels and their tests (SLM_KERNELS_ONLY, Debian's
# gcc-aarch64-linux-gnu) and run them under qemu-user with several emulated CPUs, so that every
# NEON feature level is checked against the scalar reference on this x86 machine:
#   -cpu max         ARMv8.x with dotprod and i8mm: scalar, neon, neon_dot, neon_i8mm
#   -cpu cortex-a76  dotprod, no i8mm:              scalar, neon, neon_dot
#   -cpu cortex-a53  ARMv8.0, no dotprod:           scalar, neon
# Each run must test exactly the paths its CPU has (a missing path fails the script, so a
# hwcap-detection bug cannot silently skip a kernel). Speed on real ARM is not measured here.
# Environment: ARM_BUILD_DIR (default build-arm), SKIP_ARM=1 to skip, ARM_SANITIZE=1 to also
# build and run the same tests with ASan + UBSan under qemu (in ARM_SAN_BUILD_DIR, default
# ARM_BUILD_DIR-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_ARM:-0}" = 1 ] && { echo "== ARM: skipped (SKIP_ARM=1)"; exit 0; }
dir=${ARM_BUILD_DIR:-build-arm}
sysroot=/usr/aarch64-linux-gnu
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "test_arm: $tool missing (scripts/deps.sh installs it)" >&2; exit 1; }
done

build() { # build dir, extra cmake args...
  local d=$1
  shift
  cmake --no-warn-unused-cli -S . -B "$d" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DSLM_KERNELS_ONLY=ON \
    -DSLM_WERROR=ON "$@" >/dev/null
  cmake --build "$d" -j"$(nproc)" >/dev/null
}

run_cpu() { # build dir, qemu cpu, expected "testing ..." list
  local d=$1 cpu=$2 want=$3 out
  echo "-- qemu-aarch64 -cpu $cpu ($d)"
  for t in "$d"/test_kernels*; do
    [ -x "$t" ] || continue
    if ! out=$(SLM_ISA= timeout 600 qemu-aarch64 -cpu "$cpu" -L "$sysroot" "$t" 2>&1); then
      echo "$out" | tail -40
      echo "test_arm: $(basename "$t") failed under -cpu $cpu" >&2
      exit 1
    fi
    echo "$out" | grep -E "^test_kernels" || true
    if [ "$(basename "$t")" = test_kernels ] && ! echo "$out" | grep -q "testing $want (active"; then
      echo "test_arm: -cpu $cpu should test exactly: $want" >&2
      exit 1
    fi
  done
}

echo "== ARM (aarch64) cross build + kernel tests under qemu-user"
build "$dir" -DCMAKE_BUILD_TYPE=Release
run_cpu "$dir" max "scalar neon neon_dot neon_i8mm"
run_cpu "$dir" cortex-a76 "scalar neon neon_dot"
run_cpu "$dir" cortex-a53 "scalar neon"
# SLM_ISA forces a path: the active table must follow it (and an unusable one falls back).
out=$(SLM_ISA=neon qemu-aarch64 -cpu max -L "$sysroot" "$dir/test_kernels" 2>&1 | grep "active" || true)
echo "$out" | grep -q "(active: neon)" || { echo "test_arm: SLM_ISA=neon not honoured: $out" >&2; exit 1; }

if [ "${ARM_SANITIZE:-0}" = 1 ]; then
  echo "== ARM kernel tests with ASan + UBSan under qemu-user"
  sdir=${ARM_SAN_BUILD_DIR:-$dir-asan} # (LeakSanitizer cannot stop threads under qemu-user)
  build "$sdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLM_SANITIZE=ON
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_cpu "$sdir" max "scalar neon neon_dot neon_i8mm"
fi
echo "== ARM: all paths passed"
