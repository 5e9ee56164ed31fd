#!/usr/bin/env bash
# llama.cpp reads what slm writes (through node-llama-cpp's prebuilt CPU binaries):
#  (a) `slm convert --type f16` of llama3-tiny, qwen2-tiny, llama2-quant (and qwen3-tiny, which the
#      fixtures' llama.cpp snapshot could not convert) loads in llama.cpp and its greedy
#      continuation of the reference prompts (short, medium) equals the transformers reference
#      greedy ids (all 16, or those before a step whose reference margin is < 0.04);
#  (b) `slm quantize` outputs of those conversions (Q4_K_M, Q8_0, Q4_0) load in llama.cpp, and
#      llama.cpp tokenizes the fixture tokenizer cases exactly as `slm tokenize` does on the same
#      file (no BOS added, special-token text not parsed, as llama.cpp's tokenize(text, false)).
#      Two known, deliberate differences are kept out: Qwen texts are fed NFC-normalized (HF's
#      Qwen2 tokenizer normalizes, slm follows it, llama.cpp does not); llama2-quant's vocabulary
#      has llama.cpp's flat -1000 scores (exactly as llama.cpp's converter writes it), which slm
#      reads in HF's merge order and llama.cpp does not: there llama.cpp's ids on our file must
#      equal its ids on the llama.cpp-made fixture file of the same type, and agreement with slm
#      is printed.
# node-llama-cpp comes from $NLC_DIR, else $SLM_SRC/build-npm (scripts/npm_deps.sh installs it
# there, and is run here if it is missing). Skips only without node/npm or a reachable registry.
set -u
BIN=${SLM_BIN:?}
FX=${SLM_FIXTURES:?}
SRC=${SLM_SRC:?}
TMP=${SLM_TMP:-/tmp}/llamacpp-interop
rm -rf "$TMP" && mkdir -p "$TMP"

. "$SRC/tests/llamacpp/nlc_env.sh"

# Fixture cases as one JSON string per line (the CLI's --jsonl input); U+0000 cases are left out
# (the CLI reads C strings).
texts() { # tokenizer-name [NFC]
  node -e 'const fs=require("fs");for(const l of fs.readFileSync(process.argv[1],"utf8").split("\n")){if(!l.trim())continue;let t=JSON.parse(l).text;if(process.argv[2])t=t.normalize("NFC");if(!t.includes("\u0000"))console.log(JSON.stringify(t))}' \
    "$FX/tokenizers/$1/cases.jsonl" ${2:-} >"$TMP/texts-$1.jsonl"
}

tasks=()
add_greedy() { # name model reference.json
  tasks+=("{\"name\":\"$1\",\"kind\":\"greedy\",\"model\":\"$2\",\"reference\":\"$3\"}")
}
add_tokenize() { # name model tokenizer-name [llama.cpp-made GGUF to agree with]
  if step "slm tokenize $2" sh -c "'$BIN' tokenize '$2' --jsonl --no-parse-special <'$TMP/texts-$3.jsonl' >'$TMP/$1.ids'"; then
    tasks+=("{\"name\":\"$1\",\"kind\":\"tokenize\",\"model\":\"$2\",\"texts\":\"$TMP/texts-$3.jsonl\",\"expect\":\"$TMP/$1.ids\"${4:+,\"same_as\":\"$4\"}}")
  fi
}

for pair in llama3-tiny:llama3 qwen2-tiny:qwen3 llama2-quant:llama2 qwen3-tiny:qwen3; do
  m=${pair%%:*} tok=${pair#*:}
  f16=$TMP/$m-f16.gguf
  step "slm convert $m" "$BIN" convert "$FX/models/$m" "$f16" --type f16 -q || continue
  for kind in short medium; do add_greedy "$m f16 greedy ($kind)" "$f16" "$FX/models/$m/reference/$kind.json"; done
  [ "$m" = qwen3-tiny ] && continue
  nfc=; [ "$tok" = qwen3 ] && nfc=NFC
  texts "$tok" $nfc
  # Dims of the tiny models are 32: K-quants fall back per tensor there; llama2-quant has 256.
  types="Q8_0 Q4_0"; [ "$m" = llama2-quant ] && types="Q4_K_M Q8_0"
  for t in $types; do
    q=$TMP/$m-$t.gguf
    step "slm quantize $m $t" "$BIN" quantize "$f16" "$q" "$t" || continue
    same=; [ "$m" = llama2-quant ] && same=$FX/models/$m/gguf/$m-$t.gguf
    add_tokenize "$m-$t" "$q" "$tok" $same
  done
done

plan=$TMP/plan.json
(IFS=,; echo "{\"tasks\":[${tasks[*]}]}") >"$plan"
NLC_DIR=$NLC timeout 600 node "$SRC/tests/llamacpp/interop.mjs" "$plan"
rc=$?
if [ $rc -eq 2 ]; then echo "FAIL: node-llama-cpp present in $NLC but cannot be loaded"; fail=1; fi
[ $rc -ne 0 ] && fail=1
[ $fail -eq 0 ] && rm -rf "$TMP"
exit $fail
