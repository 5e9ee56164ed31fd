#!/usr/bin/env bash
# Install the Debian/Ubuntu packages slm needs to build and test, only those missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-dev libcjson-dev libpcre2-dev libutf8proc-dev libedit-dev libcurl4-openssl-dev libmicrohttpd-dev tmux)
# SLM_DEPS_ARM=1 (the test suite): the AArch64 cross compiler and qemu-user for the NEON kernel
# tests (scripts/test_arm.sh); not needed to build or run slm.
[ "${SLM_DEPS_ARM:-0}" = 1 ] && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
