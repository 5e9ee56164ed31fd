#!/usr/bin/env bash
# `slm quantize` from the llama.cpp-made F16 fixture to every type must produce the very bytes
# llama-quantize produced (same recipe, same quantizers, same writer), and fail cleanly on bad use.
set -euo pipefail
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}" "${SLM_TMP:?}"
F=$SLM_FIXTURES/models/llama2-quant/gguf
out=$SLM_TMP/quantize
mkdir -p "$out"
fail=0
for q in Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K IQ4_NL IQ4_XS; do
  if ! "$SLM_BIN" quantize "$F/llama2-quant-f16.gguf" "$out/$q.gguf" "$q" -t 2 -q; then
    echo "FAIL $q: quantize failed"; fail=1; continue
  fi
  if cmp -s "$out/$q.gguf" "$F/llama2-quant-$q.gguf"; then echo "ok   $q byte-identical to llama-quantize"
  else echo "FAIL $q: differs from llama-quantize's file ($(cmp "$out/$q.gguf" "$F/llama2-quant-$q.gguf" | head -1))"; fail=1; fi
  rm -f "$out/$q.gguf"
done
# Re-quantizing a quantized file works (exact dequantization first) and loads.
"$SLM_BIN" quantize "$F/llama2-quant-Q4_K_M.gguf" "$out/re.gguf" q8_0 -q && "$SLM_BIN" show "$out/re.gguf" --json | grep -q '"file_type":"Q8_0"' \
  && echo "ok   requantize Q4_K_M -> Q8_0" || { echo "FAIL requantize"; fail=1; }
rm -f "$out/re.gguf"
# Usage and input errors: non-zero exit, no output file left behind.
for args in "" "$F/llama2-quant-f16.gguf $out/x.gguf q9_z" "/nonexistent.gguf $out/x.gguf q4_0" "$SLM_FIXTURES/README.md $out/x.gguf q4_0"; do
  set +e; "$SLM_BIN" quantize $args -q 2>/dev/null; rc=$?; set -e
  if [ $rc -eq 0 ] || [ -e "$out/x.gguf" ]; then echo "FAIL quantize '$args' should fail cleanly (rc=$rc)"; fail=1; else echo "ok   quantize '$args' fails (rc=$rc)"; fi
done
exit $fail
