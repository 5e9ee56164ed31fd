#!/usr/bin/env bash
# Tokenizer throughput, slm vs llama.cpp's tokenizer (node-llama-cpp) on the same ~4 MB of mixed text
# (every string of the fixture tokenizer corpora: code, many scripts, emoji, numbers..., shuffled and
# repeated). Needs: cmake -DSLM_BENCH=ON build in build-bench/, NLC_DIR (../shared/bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
FIX=../shared/fixtures
cmake -S . -B build-bench -DSLM_BENCH=ON >/dev/null && cmake --build build-bench -j"$(nproc)" --target bench_tokenizer >/dev/null
mkdir -p bench/out
txt=bench/out/tokenizer_text.txt
node -e '
  const fs = require("fs"); const out = []; let n = 0; let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const texts = [];
  for (const t of ["llama3", "qwen3", "gemma3", "llama2"])
    for (const l of fs.readFileSync(process.argv[1] + "/tokenizers/" + t + "/cases.jsonl", "utf8").trim().split("\n"))
      texts.push(JSON.parse(l).text);
  while (n < 4e6) { const s = texts[Math.floor(rnd() * texts.length)]; out.push(s); n += Buffer.byteLength(s) + 1; }
  fs.writeFileSync(process.argv[2], out.join("\n"));' "$FIX" "$txt"
G1=$FIX/models/llama3-tiny/gguf/llama3-tiny-f16.gguf G2=$FIX/models/qwen2-tiny/gguf/qwen2-tiny-f16.gguf G3=$FIX/models/llama2-quant/gguf/llama2-quant-f16.gguf
./build-bench/bench_tokenizer "$txt" "$G1" "$G2" "$G3" "$FIX/tokenizers/gemma3/tokenizer.json"
node bench/tokenizer_bench.mjs "$txt" "$G1" "$G2" "$G3"
