#!/usr/bin/env bash
# `slm template` end to end: stdin JSON -> exact prompt on stdout (compared with the transformers
# references in fixtures/chat-templates), raise_exception -> exit 1 + message, usage errors -> 2,
# model folders / GGUF files as the template source.
set -u
fx="${SLM_FIXTURES:?}"
bin="${SLM_BIN:?}"
tmp="${SLM_TMP:-/tmp}/test_chat_cli.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# Request + expected output of one fixture case, extracted with python3 (json module only).
case_files() { # dir conversation_id add_generation_prompt(true|false)
  python3 - "$1" "$2" "$3" "$tmp" <<'EOF'
import json, sys
d, conv, agp, tmp = sys.argv[1], sys.argv[2], sys.argv[3] == "true", sys.argv[4]
doc = json.load(open(d + "/cases.json"))
for c in doc["cases"]:
    if c["conversation_id"] == conv and c["add_generation_prompt"] == agp:
        req = dict(doc["context"])
        req["messages"] = c["messages"]
        if "tools" in c: req["tools"] = c["tools"]
        if not agp: req["add_generation_prompt"] = False   # true is the default: leave it out
        json.dump(req, open(tmp + "/req.json", "w"))
        open(tmp + "/want.txt", "w", newline="").write(c.get("expected", ""))
        open(tmp + "/want_err.txt", "w").write(c.get("expected_error", {}).get("message", ""))
        print(doc["frozen_now"])
EOF
}

ct="$fx/chat-templates"
# The fixture comparisons read JSON with python3; test_chat_templates covers every case in C, so
# without python3 only the CLI plumbing below is checked.
have_py=1
command -v python3 > /dev/null || { have_py=0; echo "test_chat_cli: python3 not found, skipping fixture comparisons" >&2; }
[ $have_py -eq 1 ] && for spec in "tokenizer-qwen3 tool_call_dict_arguments true" "meta-llama-Llama-3.1-8B-Instruct unicode false" \
            "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use tools_available_no_call true" \
            "mistralai-Mistral-Nemo-Instruct-2407 special_characters true" \
            "meetkai-functionary-medium-v3.1 tools_available_no_call false"; do
  set -- $spec
  now=$(case_files "$ct/$1" "$2" "$3")
  "$bin" template "$ct/$1/template.jinja" --now "$now" < "$tmp/req.json" > "$tmp/got.txt" 2> "$tmp/err.txt"
  rc=$?
  [ $rc -eq 0 ] || bad "$1/$2: exit $rc: $(cat "$tmp/err.txt")"
  cmp -s "$tmp/got.txt" "$tmp/want.txt" || bad "$1/$2: output differs from the reference"
done

# raise_exception: exit 1, the template's own message on stderr, nothing on stdout
if [ $have_py -eq 1 ]; then
now=$(case_files "$ct/google-gemma-2-2b-it" system_user true)
"$bin" template "$ct/google-gemma-2-2b-it/template.jinja" --now "$now" < "$tmp/req.json" > "$tmp/got.txt" 2> "$tmp/err.txt"
rc=$?
[ $rc -eq 1 ] || bad "raise_exception: exit $rc, want 1"
grep -qF "$(cat "$tmp/want_err.txt")" "$tmp/err.txt" || bad "raise_exception: stderr lacks the message: $(cat "$tmp/err.txt")"
grep -q "template line 1" "$tmp/err.txt" || bad "raise_exception: stderr names no template line"
[ -s "$tmp/got.txt" ] && bad "raise_exception: stdout not empty"

# runtime error (tools=None iterated) also exits 1
now=$(case_files "$ct/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use" user_only true)
"$bin" template "$ct/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use/template.jinja" < "$tmp/req.json" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 1 ] || bad "runtime error: exit code"
grep -q "not iterable" "$tmp/err.txt" || bad "runtime error message: $(cat "$tmp/err.txt")"
fi

# strftime_now: --now freezes it; without --now the clock is used (a date of the right shape)
printf '{{ strftime_now("%%d %%b %%Y") }}' > "$tmp/now.jinja"
out=$(echo '{"messages": []}' | "$bin" template "$tmp/now.jinja" --now 2024-07-26T00:00:00)
[ "$out" = "26 Jul 2024" ] || bad "--now: got '$out'"
out=$(echo '{"messages": []}' | "$bin" template "$tmp/now.jinja")
[[ "$out" =~ ^[0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}$ ]] || bad "clock date: got '$out'"

# variables: defaults (add_generation_prompt true, tools None) and passthrough of other keys
printf '{{ add_generation_prompt }} {{ tools }} {{ custom }} {{ messages | length }}' > "$tmp/vars.jinja"
out=$(echo '{"messages": [{"role": "user", "content": "x"}], "custom": [1, "a"]}' | "$bin" template "$tmp/vars.jinja")
[ "$out" = "True None [1, 'a'] 1" ] || bad "variables: got '$out'"

# model folder: its own template and bos/eos (reference text from transformers)
if [ $have_py -eq 1 ]; then
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
json.dump({"messages": r["messages"]}, open(sys.argv[2] + "/req.json", "w"))
open(sys.argv[2] + "/want.txt", "w", newline="").write(r["text"])' "$fx/models/gemma3-tiny/reference/chat.json" "$tmp"
"$bin" template "$fx/models/gemma3-tiny" < "$tmp/req.json" > "$tmp/got.txt" 2> "$tmp/err.txt" || bad "model folder: $(cat "$tmp/err.txt")"
cmp -s "$tmp/got.txt" "$tmp/want.txt" || bad "model folder: output differs from reference/chat.json"
fi

# a model without a chat template: clear error, exit 1
gguf=$(ls "$fx"/models/llama2-quant/gguf/*.gguf 2>/dev/null | head -1)
if [ -n "$gguf" ]; then
  echo '{"messages": []}' | "$bin" template "$gguf" > /dev/null 2> "$tmp/err.txt"
  [ $? -eq 1 ] && grep -q "no chat template" "$tmp/err.txt" || bad "gguf without template: $(cat "$tmp/err.txt")"
fi
echo '{"messages": []}' | "$bin" template "$fx/models/phi3-tiny" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 1 ] || bad "folder without template must fail"

# syntax error, bad stdin, usage errors
printf 'ok\n{%% if x %%}\nnever closed' > "$tmp/bad.jinja"
echo '{"messages": []}' | "$bin" template "$tmp/bad.jinja" > /dev/null 2> "$tmp/err.txt"
[ $? -eq 1 ] && grep -q "template line" "$tmp/err.txt" || bad "syntax error: $(cat "$tmp/err.txt")"
echo 'not json' | "$bin" template "$tmp/vars.jinja" > /dev/null 2>&1
[ $? -eq 1 ] || bad "bad stdin JSON must exit 1"
echo '{"no_messages": 1}' | "$bin" template "$tmp/vars.jinja" > /dev/null 2>&1
[ $? -eq 1 ] || bad "request without messages must exit 1"
"$bin" template < /dev/null > /dev/null 2>&1
[ $? -eq 2 ] || bad "missing argument must exit 2"
"$bin" template "$tmp/vars.jinja" --now yesterday < /dev/null > /dev/null 2>&1
[ $? -eq 2 ] || bad "bad --now must exit 2"
"$bin" template --help | grep -q "usage: slm template" || bad "--help"

[ $fail -eq 0 ] && echo "test_chat_cli: ok"
exit $fail
