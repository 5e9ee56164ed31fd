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
# Command line: usage errors exit 2, a model that cannot load or a port in use exit 1, all at once.
cli_fails=0
expect_exit() { # CODE WHAT ARGS...
  local want=$1 what=$2; shift 2
  SLM_HOME="$W/home" timeout 30 "$SLM_BIN" serve "$@" >"$W/cli.out" 2>&1
  local got=$?
  if [ "$got" = "$want" ]; then echo "ok: $what"; else echo "FAIL: $what: exit $got: $(head -c 300 "$W/cli.out")"; cli_fails=$((cli_fails + 1)); fi
}
expect_exit 2 "bad --port is a usage error" --port 99999
expect_exit 2 "unknown option is a usage error" --bogus
expect_exit 0 "--help" --help
expect_exit 1 "a missing model file fails at start" --port 0 "$W/nope.gguf"
printf 'GGUF\3\0\0\0garbage' >"$W/bad.gguf"
expect_exit 1 "a broken GGUF fails at start (validated)" --port 0 "$W/bad.gguf"
node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{require("fs").writeFileSync(process.argv[1],String(s.address().port))});setTimeout(()=>s.close(),20000)' "$W/busy" & BUSY=$!
for _ in $(seq 100); do [ -s "$W/busy" ] && break; sleep 0.1; done
expect_exit 1 "a port in use fails" --port "$(cat "$W/busy")"
kill $BUSY 2>/dev/null
SLM_HOME="$W/home" HF_ENDPOINT="http://127.0.0.1:$(cat "$W/port")/m/ok" SLM_PULL_RETRY_MS=50 NPM_DIR="$NPM_DIR" WORK="$W" \
  timeout 300 node "$SLM_SRC/tests/serve/ollama_client.mjs"
rc=$?
[ $cli_fails -eq 0 ] || rc=1
exit $rc
