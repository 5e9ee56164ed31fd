#!/usr/bin/env bash
# `slm serve` driven by the official `ollama` npm client (tests/serve/ollama_client.mjs): pull with
# progress from the Hub mock (tests/hubmock), tags/show/copy/delete/ps, greedy generate + chat
# against the fixture reference continuations and `slm run`, errors, hostile names, Host header,
# API key, and a client aborting mid-stream. Loopback only; the store is a scratch SLM_HOME.
set -u
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}" "${SLM_TMP:?}" "${SLM_SRC:?}"
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 0; }
NPM_DIR=${SLM_NPM_DIR:-$SLM_SRC/build-npm}
[ -f "$NPM_DIR/node_modules/ollama/package.json" ] || SLM_NPM_DIR=$NPM_DIR bash "$SLM_SRC/scripts/npm_deps.sh"
[ -f "$NPM_DIR/node_modules/ollama/package.json" ] || { echo "SKIP: the ollama npm client is unavailable (npm install failed)"; exit 0; }
W=$(mktemp -d "$SLM_TMP/serve.XXXXXX")
node "$SLM_SRC/tests/hubmock/server.mjs" "$W/port" & SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || { echo "FAIL: hub mock did not start"; exit 1; }
mkdir -p "$W/home"
unset HF_TOKEN SLM_API_KEY
SLM_HOME="$W/home" HF_ENDPOINT="http://127.0.0.1:$(cat "$W/port")/m/ok" SLM_PULL_RETRY_MS=50 NPM_DIR="$NPM_DIR" WORK="$W" \
  timeout 300 node "$SLM_SRC/tests/serve/ollama_client.mjs"
