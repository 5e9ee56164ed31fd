#!/usr/bin/env bash
# Bounded, seeded fuzz of `slm serve` request bodies, methods, paths and headers
# (tests/serve/fuzz_bodies.mjs): every request gets a well-formed answer, the server stays up and
# exits cleanly (under ASan/UBSan too). Pulls go to a closed local port, so nothing leaves the machine.
set -u
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}" "${SLM_TMP:?}" "${SLM_SRC:?}"
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 0; }
W=$(mktemp -d "$SLM_TMP/serve_fuzz.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/home"
unset HF_TOKEN SLM_API_KEY
n=400
[ "${SLM_SANITIZED:-0}" = 1 ] && n=200
SLM_HOME="$W/home" HF_ENDPOINT="http://127.0.0.1:9" SLM_PULL_RETRY_MS=-1 FUZZ_N=$n \
  timeout 300 node "$SLM_SRC/tests/serve/fuzz_bodies.mjs"
