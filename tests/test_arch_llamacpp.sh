#!/usr/bin/env bash
# Gemma 3 and Phi-3/Phi-4-mini against llama.cpp (node-llama-cpp's prebuilt CPU binaries), through
# tests/llamacpp/arch_greedy.mjs (criteria there: slm's and llama.cpp's greedy tokens identical
# except at near ties, checked at every step by teacher-forcing slm on llama.cpp's tokens).
#  (a) `slm convert --type f16` of the fixtures:
#      - phi3-tiny (partial rotary 12 of 16, longrope: rope_factors_* of n_rot/2 = 6 values, as
#        llama.cpp's convert_hf_to_gguf.py writes and llama.cpp reads them): llama.cpp's greedy
#        continuation of the short/medium/long prompts equals the transformers reference, and
#        slm's. The folder is read under a neutral name: llama.cpp's vocabulary loader looks up
#        "<|endoftext|>" for any model whose general.name contains "phi3" (real Phi-3 tokenizers
#        have it; this llama2 tokenizer does not) and refuses the file otherwise.
#      - gemma3-tiny: slm's greedy equals the reference on our file. llama.cpp's does not:
#        llama.cpp (src/models/gemma3.cpp) ignores query_pre_attn_scalar and scales attention by
#        1/sqrt(head_dim) (1/4 here; the reference uses 256^-0.5 = 1/16; the two agree on real
#        Gemma 3 checkpoints, where query_pre_attn_scalar = head_dim). Proof that this is the
#        only difference: slm on a copy whose gemma3.attention.scale says 1/sqrt(head_dim) gives
#        llama.cpp's tokens, on the 40-token prompt that crosses the sliding window (8) too, so
#        the norms (+1), embedding scale, q/k norms, rope bases and window agree.
#  (b) random-weight GGUFs at the real shapes of gemma-3-1b (6 of 26 layers: 5 sliding + 1
#      global) and Phi-4-mini (2 of 32 layers), Q8_0 (tools/make_bench_model): 32 greedy tokens
#      after a short prompt, and after a 700-token prompt on gemma3 (beyond its 512-token window).
#      Tolerance: the fixtures README's deviation of llama.cpp on quantized weights (Q8_0: 0.381).
#      Skipped under SLM_SANITIZED=1 (the files are ~0.5-0.9 GB). Full depth and Q4_K_M:
#      tests/llamacpp/arch_full_depth.sh.
# Skips only without node or node-llama-cpp.
set -u
BIN=${SLM_BIN:?}
FX=${SLM_FIXTURES:?}
SRC=${SLM_SRC:?}
TMP=${SLM_TMP:-/tmp}/arch-llamacpp
MBM=$(dirname "$BIN")/make_bench_model
rm -rf "$TMP" && mkdir -p "$TMP"

. "$SRC/tests/llamacpp/nlc_env.sh"

tasks=()
# task NAME MODEL PROMPT_JSON N TOL [extra JSON fields]
task() { tasks+=("{\"name\":\"$1\",\"model\":\"$2\",\"prompt\":$3,\"n\":$4,\"tol\":$5${6:+,$6}}"); }
ref_field() { # reference.json who -> "reference" field
  node -e 'const r=require(process.argv[1]);console.log(JSON.stringify({ids:r.greedy.new_ids,margins:r.greedy.steps.map(s=>s.top1_margin),who:process.argv[2]}))' "$1" "$2"
}
prompt_of() { node -e 'console.log(JSON.stringify(require(process.argv[1]).input_ids))' "$1"; }

# (a) fixtures, f16 conversions; tolerance: llama.cpp's f16-KV bound of the fixtures README (3e-2).
mkdir -p "$TMP/hf" && ln -s "$FX/models/phi3-tiny" "$TMP/hf/tiny-p3"
if step "slm convert phi3-tiny" "$BIN" convert "$TMP/hf/tiny-p3" "$TMP/phi3-tiny-f16.gguf" --type f16 -q; then
  for k in short medium long; do
    R=$FX/models/phi3-tiny/reference/$k.json
    task "phi3-tiny f16 $k" "$TMP/phi3-tiny-f16.gguf" "$(prompt_of "$R")" 16 0.03 "\"reference\":$(ref_field "$R" llama)"
  done
fi
G=$TMP/gemma3-tiny-f16.gguf
if step "slm convert gemma3-tiny" "$BIN" convert "$FX/models/gemma3-tiny" "$G" --type f16 -q; then
  # The copy with llama.cpp's attention scale: gemma3.attention.scale (FLOAT32) = 1/sqrt(head_dim).
  node -e '
    const fs=require("fs"), b=fs.readFileSync(process.argv[1]), k=Buffer.from("gemma3.attention.scale");
    const i=b.indexOf(k); if(i<0||b.readUInt32LE(i+k.length)!==6) process.exit(1);
    b.writeFloatLE(0.25,i+k.length+4); fs.writeFileSync(process.argv[2],b);' "$G" "$TMP/gemma3-tiny-llamacpp-scale.gguf" ||
    { echo "FAIL: no gemma3.attention.scale key in our gemma3-tiny conversion"; fail=1; }
  for k in short medium long; do
    R=$FX/models/gemma3-tiny/reference/$k.json
    task "gemma3-tiny f16 $k: slm = reference" "$G" "$(prompt_of "$R")" 16 0.03 "\"llama\":false,\"reference\":$(ref_field "$R" slm)"
    task "gemma3-tiny f16 $k: llama.cpp = slm at llama.cpp's scale 1/sqrt(head_dim)" "$TMP/gemma3-tiny-llamacpp-scale.gguf" \
      "$(prompt_of "$R")" 16 0.03 "\"llama_model\":\"$G\""
  done
fi

# (b) real shapes, fewer layers.
if [ "${SLM_SANITIZED:-0}" = 1 ]; then
  echo "SKIP (sanitized build): gemma3-1b / phi4-mini shaped files"
else
  TXT="The quick brown fox jumps over the lazy dog. Small language models run on laptops, offline."
  GM=$TMP/gemma3-1b-l6-q8_0.gguf PM=$TMP/phi4-mini-l2-q8_0.gguf
  if step "make_bench_model gemma3-1b" "$MBM" gemma3-1b q8_0 "$GM" "$FX/models/gemma3-tiny" -l 6 -t 2; then
    P=$(printf %s "$TXT" | "$BIN" tokenize "$GM" --add-special)
    task "gemma3-1b shape (6 layers) q8_0, short prompt" "$GM" "$P" 32 0.381
    # ~700 tokens of fixture text (BOS + the tokenizer cases joined), beyond the 512-token window.
    node -e 'const fs=require("fs");let s="";for(const l of fs.readFileSync(process.argv[1],"utf8").split("\n")){if(l.trim())s+=JSON.parse(l).text+"\n"}process.stdout.write(s.replace(/\u0000/g,""))' \
      "$FX/tokenizers/gemma3/cases.jsonl" >"$TMP/long.txt"
    LP=$("$BIN" tokenize "$GM" --add-special <"$TMP/long.txt" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).slice(0,700))))')
    task "gemma3-1b shape (6 layers) q8_0, 700-token prompt" "$GM" "$LP" 32 0.381 "\"ctx\":1024"
  fi
  if step "make_bench_model phi4-mini" "$MBM" phi4-mini q8_0 "$PM" "$FX/models/llama3-tiny/gguf/llama3-tiny-f16.gguf" -l 2 -t 2; then
    P=$(printf %s "$TXT" | "$BIN" tokenize "$PM" --add-special)
    task "phi4-mini shape (2 layers) q8_0, short prompt" "$PM" "$P" 32 0.381
  fi
fi

plan=$TMP/plan.json
(IFS=,; echo "{\"tasks\":[${tasks[*]}]}") >"$plan"
SLM_BIN=$BIN NLC_DIR=$NLC timeout 900 node "$SRC/tests/llamacpp/arch_greedy.mjs" "$plan"
rc=$?
if [ $rc -eq 2 ]; then echo "FAIL: node-llama-cpp present in $NLC but cannot be loaded"; fail=1; fi
[ $rc -ne 0 ] && fail=1
[ $fail -eq 0 ] && rm -rf "$TMP"
exit $fail
