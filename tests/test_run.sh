#!/usr/bin/env bash
# `slm run` one shot: --raw --temp 0 prints exactly the reference greedy continuation (the text the
# reference ids decode to after the prompt), same seed = same output, -n respected, usage errors
# exit 2, a prompt longer than --ctx exits 1 with a message, --json parses, stdin prompts, chat
# mode stops at end of turn.
set -u
fx="${SLM_FIXTURES:?}"
bin="${SLM_BIN:?}"
tmp="${SLM_TMP:-/tmp}/test_run.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
command -v python3 > /dev/null || { echo "test_run: python3 is needed to read the fixture JSON" >&2; exit 1; }
M="$fx/models"

# Exact greedy continuation. Each spec: model path ; raw prompt ; reference folder. The prompt is
# the reference prompt's text; its tokenization (BOS as the model adds it, or written out where
# the tokenizer adds none) is first checked to be the reference input_ids.
specs=(
  "llama3-tiny/gguf/llama3-tiny-f16.gguf;<|begin_of_text|>The quick brown fox jumps;llama3-tiny"
  "llama3-tiny;<|begin_of_text|>The quick brown fox jumps;llama3-tiny"
  "qwen2-tiny;The quick brown fox jumps over;qwen2-tiny"
  "qwen2-tiny/gguf/qwen2-tiny-f16.gguf;The quick brown fox jumps over;qwen2-tiny"
  "llama2-quant;The quick brown fox;llama2-quant"
  "llama2-quant/gguf/llama2-quant-f16.gguf;The quick brown fox;llama2-quant"
)
ref_ids() { # ref_dir key -> JSON array (input_ids, or input_ids + greedy ids)
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1] + "/reference/short.json"))
ids = d["input_ids"] + (d["greedy"]["new_ids"] if sys.argv[2] == "all" else [])
print(json.dumps(ids))' "$1" "$2"
}
for spec in "${specs[@]}"; do
  IFS=';' read -r model prompt ref <<< "$spec"
  got_ids=$(printf '%s' "$prompt" | "$bin" tokenize "$M/$model" --add-special | tr -d ' ')
  want_ids=$(ref_ids "$M/$ref" input | tr -d ' ')
  [ "$got_ids" = "$want_ids" ] || { bad "$model: prompt tokenizes to $got_ids, reference $want_ids"; continue; }
  # expected text: decode(input + greedy) minus decode(input), both by slm detokenize
  ref_ids "$M/$ref" all | "$bin" detokenize "$M/$ref" > "$tmp/full.txt"
  ref_ids "$M/$ref" input | "$bin" detokenize "$M/$ref" > "$tmp/pre.txt"
  python3 -c 'import sys
full = open(sys.argv[1], "rb").read(); pre = open(sys.argv[2], "rb").read()
assert full.startswith(pre), "prompt decoding is not a prefix"
open(sys.argv[3], "wb").write(full[len(pre):])' "$tmp/full.txt" "$tmp/pre.txt" "$tmp/want.txt" ||
    { bad "$model: cannot build the expected text"; continue; }
  "$bin" run "$M/$model" "$prompt" --raw --temp 0 -n 16 > "$tmp/got.txt" 2> "$tmp/err.txt" ||
    { bad "$model: slm run failed: $(cat "$tmp/err.txt")"; continue; }
  cmp -s "$tmp/got.txt" "$tmp/want.txt" ||
    bad "$model: greedy continuation differs: got '$(cat "$tmp/got.txt")' want '$(cat "$tmp/want.txt")'"
done

L3="$M/llama3-tiny/gguf/llama3-tiny-f16.gguf"
Q2="$M/qwen2-tiny"

# Same seed, same settings: same text; another seed: (almost surely) other text.
"$bin" run "$Q2" "Hello there" --raw --seed 42 --temp 1 --top-k 0 --top-p 1 --min-p 0 -n 24 > "$tmp/s1.txt" || bad "seed run 1 failed"
"$bin" run "$Q2" "Hello there" --raw --seed 42 --temp 1 --top-k 0 --top-p 1 --min-p 0 -n 24 > "$tmp/s2.txt" || bad "seed run 2 failed"
"$bin" run "$Q2" "Hello there" --raw --seed 43 --temp 1 --top-k 0 --top-p 1 --min-p 0 -n 24 > "$tmp/s3.txt" || bad "seed run 3 failed"
cmp -s "$tmp/s1.txt" "$tmp/s2.txt" || bad "same seed gave different output"
[ -s "$tmp/s1.txt" ] || bad "seeded run printed nothing"
cmp -s "$tmp/s1.txt" "$tmp/s3.txt" && bad "seeds 42 and 43 gave the same 24 tokens"
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$tmp/s1.txt" 2> /dev/null ||
  bad "streamed output is not valid UTF-8"

# -n N: exactly N tokens with --json (generated_tokens), and the streamed text equals "response".
out=$("$bin" run "$L3" "Once upon a time" --raw --temp 0 -n 7 --json) || bad "--json run failed"
python3 -c 'import json,sys
o = json.loads(sys.argv[1])
assert o["timings"]["generated_tokens"] == 7, o
assert o["stop_reason"] == "length", o
assert isinstance(o["response"], str) and o["response"], o
for k in ("prompt_tokens", "prompt_tokens_per_s", "generation_tokens_per_s", "time_to_first_token_ms"):
    assert k in o["timings"], k
open(sys.argv[2], "w", newline="").write(o["response"])' "$out" "$tmp/json_resp.txt" || bad "--json output: $out"
"$bin" run "$L3" "Once upon a time" --raw --temp 0 -n 7 > "$tmp/plain7.txt" || bad "plain -n 7 run failed"
cmp -s "$tmp/plain7.txt" "$tmp/json_resp.txt" || bad "streamed text differs from the --json response"
"$bin" run "$L3" "Once upon a time" --raw --temp 0 -n 3 --json |
  python3 -c 'import json,sys; assert json.load(sys.stdin)["timings"]["generated_tokens"] == 3' || bad "-n 3 not respected"

# --verbose: a timing line on stderr.
"$bin" run "$L3" "Hi" --raw -n 4 --seed 1 --verbose > /dev/null 2> "$tmp/verbose.txt" || bad "--verbose run failed"
grep -q 'prompt: .* tok/s .*generation: .* tok/s .*first token: .* ms' "$tmp/verbose.txt" ||
  bad "--verbose timing line missing: $(cat "$tmp/verbose.txt")"

# Usage errors: exit 2.
for args in "--temp" "--temp abc" "--top-p 2" "--min-p -1" "-n x" "--ctx 0" "--bogus" "--top-k -3" "-t 0"; do
  # shellcheck disable=SC2086
  "$bin" run "$L3" "hi" $args > /dev/null 2> "$tmp/u.txt"
  rc=$?
  [ $rc -eq 2 ] || bad "'slm run MODEL hi $args' exited $rc, want 2"
done
"$bin" run > /dev/null 2>&1; [ $? -eq 2 ] || bad "no model: want exit 2"
"$bin" run "$L3" a b > /dev/null 2>&1; [ $? -eq 2 ] || bad "two prompts: want exit 2"
"$bin" run --help | grep -q 'temperature 0.8, top-k 40' || bad "--help does not document the defaults"

# A prompt longer than the context: exit 1 with a message, chat and raw.
long=$(python3 -c 'print(" ".join(["word"] * 300))')
"$bin" run "$L3" "$long" --raw --ctx 64 -n 4 > /dev/null 2> "$tmp/long.txt"; rc=$?
[ $rc -eq 1 ] || bad "raw prompt longer than --ctx: exit $rc, want 1"
grep -q 'context' "$tmp/long.txt" || bad "raw prompt too long: no message about the context: $(cat "$tmp/long.txt")"
"$bin" run "$L3" "$long" --ctx 64 -n 4 > /dev/null 2> "$tmp/long2.txt"; rc=$?
[ $rc -eq 1 ] || bad "chat prompt longer than --ctx: exit $rc, want 1"
grep -q 'context' "$tmp/long2.txt" || bad "chat prompt too long: no message: $(cat "$tmp/long2.txt")"

# Chat mode: stdin prompt answered once; --system accepted; stops by itself with --temp 0 at EOS
# or the -n limit; a model without a chat template is a clear error (exit 1).
echo "What is up?" | "$bin" run "$Q2" --system "Be brief." --temp 0 -n 12 --json > "$tmp/chat.json" ||
  bad "stdin chat failed"
python3 -c 'import json,sys; o = json.load(open(sys.argv[1])); assert o["prompt"] == "What is up?", o
assert o["timings"]["prompt_tokens"] > 5, o' "$tmp/chat.json" || bad "stdin chat JSON: $(cat "$tmp/chat.json")"
echo "hi" | "$bin" run "$M/llama2-quant" -n 4 > /dev/null 2> "$tmp/notmpl.txt"; rc=$?
[ $rc -eq 1 ] || bad "model without a chat template: exit $rc, want 1"
grep -q 'chat template' "$tmp/notmpl.txt" || bad "no chat template message: $(cat "$tmp/notmpl.txt")"
"$bin" run "$Q2" "hi" --raw --system x > /dev/null 2>&1; [ $? -eq 2 ] || bad "--raw --system: want exit 2"

# Ctrl-C (SIGINT) during a one-shot answer: it stops, --json still prints, exit status 130.
"$bin" run "$Q2" "tell me a story" --raw --seed 3 -n -1 --ctx 16384 --json > "$tmp/int.json" 2> "$tmp/int.err" &
pid=$!
sleep "$([ -n "${SLM_SANITIZED:-}" ] && echo 6 || echo 2)" # loaded and generating by then
kill -INT "$pid" 2> /dev/null
wait "$pid"
rc=$?
[ $rc -eq 130 ] || bad "SIGINT during a one-shot answer: exit $rc, want 130 ($(cat "$tmp/int.err"))"
python3 -c 'import json,sys; o = json.load(open(sys.argv[1])); assert o["stop_reason"] == "cancelled", o
assert o["timings"]["generated_tokens"] > 0, o' "$tmp/int.json" 2> /dev/null || bad "interrupted --json output: $(head -c 300 "$tmp/int.json")"

[ $fail -eq 0 ] && echo "test_run: ok"
exit $fail
