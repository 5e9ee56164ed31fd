#!/usr/bin/env bash
# `slm run --stop STR`: the answer is exactly the unconstrained greedy answer cut before the first
# occurrence of STR, also when STR spans several tokens; the stop string itself is never printed.
set -euo pipefail
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}" "${SLM_TMP:?}"
d=$SLM_TMP/run_stop; mkdir -p "$d"
fail=0
for model in "$SLM_FIXTURES/models/llama3-tiny" "$SLM_FIXTURES/models/qwen2-tiny/gguf/qwen2-tiny-f16.gguf"; do
  "$SLM_BIN" run "$model" --raw "Hello world" -n 32 --temp 0 >"$d/full"
  for at in 3 9 17 25; do
    # a 5-character stop string taken from the full answer at character `at` (may span tokens)
    stop=$(node -e 'const s=[...require("fs").readFileSync(process.argv[1],"utf8")]; process.stdout.write(s.slice(+process.argv[2], +process.argv[2]+5).join(""))' "$d/full" "$at")
    [ -n "$stop" ] || continue
    "$SLM_BIN" run "$model" --raw "Hello world" -n 32 --temp 0 --stop "$stop" >"$d/cut"
    if node -e '
      const fs=require("fs"); const full=fs.readFileSync(process.argv[1],"utf8"), cut=fs.readFileSync(process.argv[2],"utf8");
      const want = full.slice(0, full.indexOf(process.argv[3]));
      if (cut !== want) { console.error(JSON.stringify({cut, want})); process.exit(1); }' "$d/full" "$d/cut" "$stop"; then
      echo "ok   $(basename "$model") stop at char $at"
    else
      echo "FAIL $(basename "$model") stop $(printf %q "$stop")"; fail=1
    fi
  done
done
# A stop string that never appears changes nothing.
"$SLM_BIN" run "$SLM_FIXTURES/models/llama3-tiny" --raw "Hello world" -n 32 --temp 0 --stop "@@never@@" >"$d/none"
m=$SLM_FIXTURES/models/llama3-tiny; "$SLM_BIN" run "$m" --raw "Hello world" -n 32 --temp 0 >"$d/full"
cmp -s "$d/none" "$d/full" && echo "ok   absent stop string" || { echo "FAIL absent stop string changed the output"; fail=1; }
exit $fail
