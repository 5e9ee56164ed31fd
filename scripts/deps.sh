#!/usr/bin/env bash
# Install the Debian/Ubuntu packages slm needs to build and test, only those missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-dev libcjson-dev libpcre2-dev libutf8proc-dev libedit-dev libcurl4-openssl-dev libmicrohttpd-dev tmux)
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
