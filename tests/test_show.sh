#!/usr/bin/env bash
# `slm show` on every fixture model (GGUF files and HF folders): the JSON must carry the
# hyper-parameters of the fixtures README table, and text output must work too.
set -euo pipefail
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}"
M=$SLM_FIXTURES/models
fail=0
check() { # name path expected-json-subset
  local out
  if ! out=$("$SLM_BIN" show "$2" --json 2>&1); then
    echo "FAIL $1: slm show exited non-zero: $out"; fail=1; return
  fi
  if ! node -e '
    const got = JSON.parse(process.argv[1]), want = JSON.parse(process.argv[2]);
    const bad = [];
    const walk = (g, w, p) => { for (const k in w) {
      if (typeof w[k] === "object") walk(g?.[k], w[k], p + k + ".");
      else if (g?.[k] !== w[k]) bad.push(`${p}${k}: got ${JSON.stringify(g?.[k])}, want ${JSON.stringify(w[k])}`); } };
    walk(got, want, "");
    if (bad.length) { console.log(bad.join("\n")); process.exit(1); }' "$out" "$3"; then
    echo "FAIL $1"; fail=1
  else
    echo "ok   $1"
  fi
  "$SLM_BIN" show "$2" >/dev/null || { echo "FAIL $1: text output"; fail=1; }
}
# hidden, layers, heads/kv, head_dim, ffn, vocab, tied: fixtures README section 4
check llama3-tiny-hf "$M/llama3-tiny" '{"architecture":"llama","format":"huggingface","embedding_length":32,"block_count":2,"head_count":4,"head_count_kv":2,"head_dim":8,"feed_forward_length":96,"vocab_size":128256,"tied_embeddings":true,"rope":{"freq_base":500000,"scaling":"llama3","layout":"neox"},"tokenizer":{"model":"BPE","size":128256},"chat_template":true}'
check llama3-tiny-gguf "$M/llama3-tiny/gguf/llama3-tiny-f16.gguf" '{"architecture":"llama","format":"gguf","embedding_length":32,"block_count":2,"head_count":4,"head_count_kv":2,"head_dim":8,"feed_forward_length":96,"vocab_size":128256,"tied_embeddings":true,"file_type":"F16","rope":{"freq_base":500000,"scaling":"llama3","layout":"normal"},"tokenizer":{"model":"gpt2","pre":"smaug-bpe","size":128256,"bos_token_id":128000},"chat_template":true}'
check qwen2-tiny-hf "$M/qwen2-tiny" '{"architecture":"qwen2","embedding_length":32,"block_count":2,"head_count":4,"head_count_kv":2,"head_dim":8,"feed_forward_length":96,"vocab_size":151936,"tied_embeddings":true,"rope":{"freq_base":1000000},"rms_eps":0.000001}'
check qwen2-tiny-gguf "$M/qwen2-tiny/gguf/qwen2-tiny-f16.gguf" '{"architecture":"qwen2","embedding_length":32,"block_count":2,"head_count_kv":2,"vocab_size":151936,"tied_embeddings":true,"tokenizer":{"model":"gpt2","pre":"qwen2"}}'
check qwen3-tiny-hf "$M/qwen3-tiny" '{"architecture":"qwen3","embedding_length":32,"head_count":4,"head_count_kv":2,"head_dim":16,"feed_forward_length":96,"vocab_size":151936}'
check gemma3-tiny-hf "$M/gemma3-tiny" '{"architecture":"gemma3","embedding_length":32,"block_count":6,"head_count":4,"head_count_kv":1,"head_dim":16,"feed_forward_length":96,"vocab_size":262144,"tied_embeddings":true,"sliding_window":8,"rope":{"freq_base":1000000,"freq_base_local":10000}}'
check phi3-tiny-hf "$M/phi3-tiny" '{"architecture":"phi3","embedding_length":64,"block_count":2,"head_count":4,"head_count_kv":2,"head_dim":16,"feed_forward_length":128,"vocab_size":32000,"tied_embeddings":false,"rope":{"dimension_count":12,"scaling":"longrope"}}'
check llama2-quant-hf "$M/llama2-quant" '{"architecture":"llama","embedding_length":256,"block_count":2,"head_count":8,"head_count_kv":4,"head_dim":32,"feed_forward_length":768,"vocab_size":32000,"tied_embeddings":true,"tokenizer":{"size":32000}}'
for q in f16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K IQ4_NL IQ4_XS; do
  want=$q; case $q in f16) want=F16;; Q3_K_M) want=Q3_K;; Q4_K_M) want=Q4_K;; Q5_K_M) want=Q5_K;; esac
  [ "$q" = Q2_K ] && want=Q2_K
  check "llama2-quant-$q" "$M/llama2-quant/gguf/llama2-quant-$q.gguf" "{\"architecture\":\"llama\",\"embedding_length\":256,\"block_count\":2,\"vocab_size\":32000,\"file_type\":\"$want\",\"tokenizer\":{\"model\":\"llama\",\"size\":32000}}"
done
# Parameter count of llama2-quant: embd 32000*256 + 2 layers * (4*256*256/... ) computed from the shapes:
# q 256x256, k 256x128, v 256x128, o 256x256, gate/up/down 3*256*768, 2 norms 256 -> per layer
per_layer=$((256*256 + 256*128 + 256*128 + 256*256 + 3*256*768 + 2*256))
want_params=$((32000*256 + 256 + 2*per_layer))
got=$("$SLM_BIN" show "$M/llama2-quant" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).parameters))')
[ "$got" = "$want_params" ] && echo "ok   parameter count $got" || { echo "FAIL parameter count: got $got want $want_params"; fail=1; }

# Usage errors and bad paths: non-zero exit, message on stderr, nothing on stdout.
for args in "" "--bogus x" "/nonexistent/model.gguf" "$SLM_FIXTURES/README.md" "$SLM_FIXTURES/tokenizers"; do
  set +e; out=$("$SLM_BIN" show $args 2>/dev/null); rc=$?; set -e
  if [ $rc -eq 0 ] || [ -n "$out" ]; then echo "FAIL show '$args' should fail (rc=$rc)"; fail=1; else echo "ok   show '$args' fails (rc=$rc)"; fi
done
exit $fail
