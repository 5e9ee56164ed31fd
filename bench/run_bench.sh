#!/usr/bin/env bash
# slm vs llama.cpp (node-llama-cpp) on the same random-weight GGUFs, same machine, same run.
# Prints a markdown table of tokens/s and ratios (slm / llama.cpp).
#
# usage: bench/run_bench.sh [-s "llama3.2-1b qwen2.5-0.5b"] [-q "q4_0 q4_k_m q8_0"] [-t 1,2]
#                           [-r 3] [-p 512] [-n 128] [-d 0]
# needs: a build in build/ (scripts/build.sh), node-llama-cpp installed in $NLC_DIR
#        (see ../shared/bench/README.md), about 1-3 GB of disk in models/bench/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes="llama3.2-1b qwen2.5-0.5b"; types="q4_0 q4_k_m q8_0"; threads=1,2; reps=3; pp=512; tg=128; depth=0
while getopts "s:q:t:r:p:n:d:" o; do
  case $o in s) shapes=$OPTARG;; q) types=$OPTARG;; t) threads=$OPTARG;; r) reps=$OPTARG;;
             p) pp=$OPTARG;; n) tg=$OPTARG;; d) depth=$OPTARG;; *) exit 2;; esac
done
: "${NLC_DIR:?set NLC_DIR to the folder where node-llama-cpp is installed (../shared/bench/README.md)}"
FIX=../shared/fixtures/models
mkdir -p models/bench bench/out
out=bench/out/$(date +%Y%m%d-%H%M%S).jsonl
for s in $shapes; do
  case $s in llama*) tok=$FIX/llama3-tiny/gguf/llama3-tiny-f16.gguf;; qwen*) tok=$FIX/qwen2-tiny/gguf/qwen2-tiny-f16.gguf;; esac
  for q in $types; do
    f=models/bench/$s-$q.gguf
    [ -f "$f" ] || ./build/make_bench_model "$s" "$q" "$f" "$tok"
    echo "== $f" >&2
    # Interleave: peer, then slm, on the same file.
    node ../shared/bench/nlc_bench.mjs --model "$f" --threads "$threads" --pp "$pp" --tg "$tg" --depth "$depth" \
      --reps "$reps" --json - | sed "s/^/{\"src\":\"nlc\",\"file\":\"$(basename "$f")\",\"r\":/; s/\$/}/" >> "$out"
    ./build/slm bench "$f" -p "$pp" -n "$tg" -d "$depth" -r "$reps" -t "$threads" --json |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const r of JSON.parse(s))
        console.log(JSON.stringify({src:"slm",file:process.argv[1],r}))})' "$(basename "$f")" >> "$out"
  done
done
node bench/ratio_table.mjs "$out"
