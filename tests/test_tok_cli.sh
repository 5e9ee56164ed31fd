#!/usr/bin/env bash
# CLI smoke test for `slm tokenize` / `slm detokenize` against the fixture references
# (ids from HF tokenizers in ../shared/fixtures/tokenizers/*/cases.jsonl and the README).
set -u
BIN=${SLM_BIN:?}
FX=${SLM_FIXTURES:?}
TMP=${SLM_TMP:-/tmp}/tok_cli.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # name expected actual
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2] got [$3]"; fail=1; fi
}

Q=$FX/tokenizers/qwen3/tokenizer.json
# README example: special tokens parsed by default, no BOS for qwen.
out=$(printf '<|im_start|>user\nHi<|im_end|>' | "$BIN" tokenize "$Q")
check "qwen3 special parsed" "[151644, 872, 198, 13048, 151645]" "$out"
out=$(printf '<|im_start|>' | "$BIN" tokenize "$Q" --no-parse-special)
case "$out" in *151644*) check "qwen3 --no-parse-special" "no 151644" "$out" ;; *) echo "ok   qwen3 --no-parse-special ($out)" ;; esac

# llama2 (HF folder of a fixture model): BOS only with --add-special; " " -> [259].
L2=$FX/models/llama2-quant
check "llama2 folder" "[259]" "$(printf ' ' | "$BIN" tokenize "$L2")"
check "llama2 --add-special" "[1, 259]" "$(printf ' ' | "$BIN" tokenize "$L2" --add-special)"
check "llama2 gguf" "[1, 259]" "$(printf ' ' | "$BIN" tokenize "$L2/gguf/llama2-quant-f16.gguf" --add-special)"
check "llama2 empty" "[]" "$(printf '' | "$BIN" tokenize "$L2")"

# Round trip through detokenize, every case of the llama3 file via its expected ids.
python3 - "$FX/tokenizers/llama3/cases.jsonl" "$TMP" <<'PY' || exit 1
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    c = json.loads(line)
    if i in (5, 40, 120, 170):
        open(f"{sys.argv[2]}/ids{i}.json", "w").write(json.dumps(c["ids"]))
        open(f"{sys.argv[2]}/dec{i}.txt", "wb").write(c["decoded"].encode("utf-8"))
        open(f"{sys.argv[2]}/txt{i}.txt", "wb").write(c["text"].encode("utf-8"))
PY
for i in 5 40 120 170; do
  "$BIN" detokenize "$FX/tokenizers/llama3/tokenizer.json" <"$TMP/ids$i.json" >"$TMP/out$i.txt"
  if cmp -s "$TMP/out$i.txt" "$TMP/dec$i.txt"; then echo "ok   llama3 detokenize case $i"; else echo "FAIL llama3 detokenize case $i"; fail=1; fi
  got=$("$BIN" tokenize "$FX/tokenizers/llama3/tokenizer.json" <"$TMP/txt$i.txt" | tr -d ' ')
  want=$(tr -d ' ' <"$TMP/ids$i.json")
  check "llama3 tokenize case $i" "$want" "$got"
done

# Errors: invalid UTF-8 -> exit 1 with a message; bad usage -> exit 2; --help -> 0.
printf 'ab\xffcd' | "$BIN" tokenize "$Q" >/dev/null 2>"$TMP/err"; rc=$?
check "invalid utf-8 exit" 1 "$rc"
grep -q "UTF-8" "$TMP/err" && echo "ok   invalid utf-8 message" || { echo "FAIL invalid utf-8 message: $(cat "$TMP/err")"; fail=1; }
echo '[1, "x"]' | "$BIN" detokenize "$Q" >/dev/null 2>&1; check "detokenize bad json exit" 1 $?
echo '[99999999]' | "$BIN" detokenize "$Q" >/dev/null 2>&1; check "detokenize bad id exit" 1 $?
"$BIN" tokenize >/dev/null 2>&1; check "tokenize no model exit" 2 $?
"$BIN" tokenize "$TMP/does-not-exist" </dev/null >/dev/null 2>&1; check "tokenize missing model exit" 1 $?
"$BIN" tokenize --help | grep -q "usage: slm tokenize"; check "tokenize --help" 0 $?
"$BIN" detokenize --help | grep -q "usage: slm detokenize"; check "detokenize --help" 0 $?
exit $fail
