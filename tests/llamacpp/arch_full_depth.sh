#!/usr/bin/env bash
# Full-depth version of tests/test_arch_llamacpp.sh (b), too slow for CI: gemma-3-1b (26 layers)
# and Phi-4-mini (32 layers) shaped random-weight GGUFs in Q8_0 and Q4_K_M (made with
# tools/make_bench_model into models/bench/ when missing), 32 greedy tokens after a short prompt,
# and after a 700-token prompt on gemma3 (beyond its 512-token sliding window), slm vs llama.cpp
# with tests/llamacpp/arch_greedy.mjs. Tolerances: the fixtures README's llama.cpp deviation on
# quantized weights (Q8_0 0.381, Q4_K_M 0.449).
#
# usage: tests/llamacpp/arch_full_depth.sh [BUILD_DIR (default build)] [types (default "q8_0 q4_k_m")]
# needs: node-llama-cpp in $NLC_DIR (default build-npm), ~6 GB of disk in models/bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; TYPES=${2:-q8_0 q4_k_m}
BIN=$PWD/$BUILD/slm MBM=$PWD/$BUILD/make_bench_model FX=${SLM_FIXTURES:-$PWD/../shared/fixtures}
NLC=${NLC_DIR:-$PWD/build-npm}
mkdir -p models/bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TXT="The quick brown fox jumps over the lazy dog. Small language models run on laptops, offline."
node -e 'const fs=require("fs");let s="";for(const l of fs.readFileSync(process.argv[1],"utf8").split("\n")){if(l.trim())s+=JSON.parse(l).text+"\n"}process.stdout.write(s.replace(/\u0000/g,""))' \
  "$FX/tokenizers/gemma3/cases.jsonl" >"$TMP/long.txt"
tasks=()
for t in $TYPES; do
  case $t in q8_0) tol=0.381;; q4_k_m) tol=0.449;; *) echo "no tolerance for $t" >&2; exit 2;; esac
  G=$PWD/models/bench/gemma3-1b-$t.gguf P=$PWD/models/bench/phi4-mini-$t.gguf
  [ -f "$G" ] || "$MBM" gemma3-1b "$t" "$G" "$FX/models/gemma3-tiny"
  [ -f "$P" ] || "$MBM" phi4-mini "$t" "$P" "$FX/models/llama3-tiny/gguf/llama3-tiny-f16.gguf"
  GP=$(printf %s "$TXT" | "$BIN" tokenize "$G" --add-special)
  LP=$("$BIN" tokenize "$G" --add-special <"$TMP/long.txt" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).slice(0,700))))')
  PP=$(printf %s "$TXT" | "$BIN" tokenize "$P" --add-special)
  tasks+=("{\"name\":\"gemma3-1b $t short\",\"model\":\"$G\",\"prompt\":$GP,\"n\":32,\"tol\":$tol}")
  tasks+=("{\"name\":\"gemma3-1b $t 700-token prompt\",\"model\":\"$G\",\"prompt\":$LP,\"n\":32,\"tol\":$tol,\"ctx\":1024}")
  tasks+=("{\"name\":\"phi4-mini $t short\",\"model\":\"$P\",\"prompt\":$PP,\"n\":32,\"tol\":$tol}")
done
(IFS=,; echo "{\"tasks\":[${tasks[*]}]}") >"$TMP/plan.json"
SLM_BIN=$BIN NLC_DIR=$NLC node tests/llamacpp/arch_greedy.mjs "$TMP/plan.json"
