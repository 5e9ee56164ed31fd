#!/usr/bin/env bash
# The model-level fixture tests with every kernel path this CPU supports forced on (SLM_ISA):
# test_engine_quant (every llama2-quant GGUF against its gold and against llama.cpp's deviation),
# test_engine_models (llama3/qwen2/qwen3 tiny models against transformers' logits) and
# test_engine_gemma_phi, once per ISA. The default run of those tests covers only the best path;
# this makes the AVX2 path (and the scalar reference) carry the same bars on an AVX-512 machine,
# and amx_emulated runs the AMX prompt tiles over the C model of their instructions there.
# Paths the CPU or build lacks are reported as skipped. Under the sanitizers (SLM_SANITIZED=1) the
# scalar path is skipped: its 16-bit reference matmul is a double-precision loop, minutes there.
set -u
bin="${SLM_BIN:?}"
dir=$(dirname "$bin")
fx="${SLM_FIXTURES:?}"
probe="$fx/models/llama2-quant/gguf/llama2-quant-Q4_0.gguf"
fail=0
ran=()
skipped=()
for isa in scalar avx2 avx512 amx amx_emulated neon neon_dot neon_i8mm; do
  if [ "$isa" = scalar ] && [ "${SLM_SANITIZED:-0}" = 1 ]; then skipped+=("$isa (sanitized build)"); continue; fi
  # a context refuses an SLM_ISA the CPU lacks, with a message saying so
  if ! out=$(SLM_ISA=$isa "$bin" logits "$probe" --ids 1,2 --top 1 2>&1); then
    case $out in
      *"does not support"*) skipped+=("$isa"); continue;;
      *) echo "FAIL: SLM_ISA=$isa slm logits: $out" >&2; fail=1; continue;;
    esac
  fi
  ran+=("$isa")
  for t in test_engine_quant test_engine_models test_engine_gemma_phi; do
    if ! log=$(SLM_ISA=$isa "$dir/$t" 2>&1); then
      echo "FAIL: SLM_ISA=$isa $t" >&2
      echo "$log" | grep -E 'failed|FAIL' | head -20 >&2
      fail=1
    fi
  done
done
echo "test_isa_paths: ran ${ran[*]:-none}; skipped ${skipped[*]:-none}"
[ ${#ran[@]} -gt 0 ] || { echo "FAIL: no kernel path ran" >&2; fail=1; }
exit $fail
