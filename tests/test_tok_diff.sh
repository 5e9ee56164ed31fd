#!/usr/bin/env bash
# Differential fuzzing: slm vs Hugging Face `tokenizers` (Rust, via the @anush008/tokenizers npm
# bindings) on seeded random Unicode strings, for the four fixture tokenizer.json files and the
# GGUFs made from them. The npm package is installed on first use into a git-ignored folder
# ($SLM_TOK_NPM, default $SLM_SRC/build-tok-npm). Without node/npm (or no registry) it skips.
# SLM_TOK_DIFF_N strings per tokenizer (default 1500; fewer under sanitizers).
set -u
BIN=${SLM_BIN:?}
FX=${SLM_FIXTURES:?}
SRC=${SLM_SRC:?}
NPM_DIR=${SLM_TOK_NPM:-$SRC/build-tok-npm}
N=${SLM_TOK_DIFF_N:-1500}
[ -n "${SLM_SANITIZED:-}" ] && N=${SLM_TOK_DIFF_N:-200}
PKG=@anush008/tokenizers@0.6.0

if ! command -v node >/dev/null 2>&1; then echo "skipped: node not installed"; exit 0; fi
if [ ! -d "$NPM_DIR/node_modules/@anush008/tokenizers" ]; then
  if ! command -v npm >/dev/null 2>&1; then echo "skipped: npm not installed"; exit 0; fi
  mkdir -p "$NPM_DIR"
  # Its own package.json keeps npm from installing into some parent folder's project.
  [ -f "$NPM_DIR/package.json" ] || echo '{"private": true}' >"$NPM_DIR/package.json"
  if ! (cd "$NPM_DIR" && timeout 300 npm install --no-audit --no-fund --no-save "$PKG" >/dev/null 2>&1); then
    echo "skipped: could not install $PKG"; exit 0
  fi
fi

fail=0
run() { # tokenizer-name seed [slm-model]
  node "$SRC/tests/test_tok_diff.cjs" "$NPM_DIR" "$BIN" "$FX/tokenizers/$1/tokenizer.json" "$N" "$2" ${3:+"$FX/$3"} || fail=1
}
run llama3 11
run qwen3 12
run gemma3 13
run llama2 14
# Under sanitizers loading dominates: the GGUF pairs run in the release build only.
[ -n "${SLM_SANITIZED:-}" ] && exit $fail
run llama3 15 models/llama3-tiny/gguf/llama3-tiny-f16.gguf
run qwen3 16 models/qwen2-tiny/gguf/qwen2-tiny-f16.gguf
run llama2 17 models/llama2-quant/gguf/llama2-quant-f16.gguf
# Added-token flags the fixture files do not use (lstrip, rstrip, single_word), on a copy of
# the qwen3 file with them switched on.
MOD=${SLM_TMP:-/tmp}/tok_diff_flags.$$
mkdir -p "$MOD"
node -e '
const fs = require("fs");
const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
for (const a of d.added_tokens) {
  if (a.content === "<|im_start|>") a.lstrip = true;
  if (a.content === "<|im_end|>") a.rstrip = true;
  if (a.content === "<think>") a.single_word = true;
  if (a.content === "<|endoftext|>") { a.lstrip = true; a.rstrip = true; }
}
fs.writeFileSync(process.argv[2], JSON.stringify(d));' "$FX/tokenizers/qwen3/tokenizer.json" "$MOD/tokenizer.json"
node "$SRC/tests/test_tok_diff.cjs" "$NPM_DIR" "$BIN" "$MOD/tokenizer.json" "$N" 18 || fail=1
# Metaspace pre-tokenizer (Mistral-style files): the llama2 file with its normalizer replaced.
for scheme in first always; do
  mkdir -p "$MOD/metaspace-$scheme"
  node -e '
const fs = require("fs");
const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
d.normalizer = null;
d.pre_tokenizer = {type: "Metaspace", replacement: "▁", prepend_scheme: process.argv[3], split: process.argv[3] === "always"};
fs.writeFileSync(process.argv[2], JSON.stringify(d));' "$FX/tokenizers/llama2/tokenizer.json" "$MOD/metaspace-$scheme/tokenizer.json" "$scheme"
  node "$SRC/tests/test_tok_diff.cjs" "$NPM_DIR" "$BIN" "$MOD/metaspace-$scheme/tokenizer.json" "$N" 19 || fail=1
done
rm -rf "$MOD"
exit $fail
