#!/usr/bin/env bash
# The terminal chat of `slm run MODEL`, driven in a real terminal with tmux (send-keys /
# capture-pane): a question gets an answer, the second turn reuses the KV cache, /set, /save +
# /clear + /load round trip, """ multi-line input, /system, /show, Ctrl-C during a long answer
# returns to the prompt, Ctrl-C at the prompt does not quit, /bye and Ctrl-D exit with status 0.
set -u
fx="${SLM_FIXTURES:?}"
bin="${SLM_BIN:?}"
command -v tmux > /dev/null || { echo "test_run_tmux: tmux is needed (scripts/deps.sh)" >&2; exit 1; }
command -v python3 > /dev/null || { echo "test_run_tmux: python3 is needed" >&2; exit 1; }
tmp="${SLM_TMP:-/tmp}/test_run_tmux.$$"
mkdir -p "$tmp"
sock="$tmp/tmux.sock" # a private server: never touches the user's tmux sessions
T() { tmux -S "$sock" "$@"; }
trap 'T kill-server 2> /dev/null; rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
model="$fx/models/qwen2-tiny"
# sanitizer builds are slower: scale the waits
slow=1
[ -n "${SLM_SANITIZED:-}" ] && slow=4

screen() { T capture-pane -p -J -S -5000 -t chat; }
# wait_for PATTERN [COUNT] [SECONDS]: until the screen holds COUNT lines matching PATTERN.
wait_for() {
  local pat=$1 count=${2:-1} secs=$((${3:-20} * slow)) i=0
  while [ $i -lt $((secs * 10)) ]; do
    [ "$(screen | grep -c -E -- "$pat")" -ge "$count" ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
type_line() { T send-keys -t chat -l -- "$1"; T send-keys -t chat Enter; }
# wait_idle: the last non-empty screen line is a fresh prompt
wait_idle() {
  local secs=$((${1:-20} * slow)) i=0
  while [ $i -lt $((secs * 10)) ]; do
    [ "$(screen | grep -v '^$' | tail -n 1 | sed 's/ *$//')" = ">>>" ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

T new-session -d -s chat -x 160 -y 50 \
  "HOME='$tmp' '$bin' run '$model' --seed 7 -n 12 --ctx 8192 --verbose; echo \"SLM_EXIT=\$?\" > '$tmp/exit.txt'; sleep 60"
wait_idle 30 || { bad "no >>> prompt: $(screen)"; exit 1; }

# 1. a question gets an answer (streamed) and a timing line; the prompt comes back
type_line "hello there"
wait_for 'generation: [0-9]+ tokens' 1 && wait_idle || bad "no answer to the first question: $(screen)"

# 2. /set changes the sampler
type_line "/set temperature 0.5"
wait_for '^Set temperature to 0.5\.$' || bad "/set temperature: $(screen | tail -5)"
type_line "/set top_k abc"
wait_for '^Bad value for top_k' || bad "/set with a bad value: $(screen | tail -5)"

# 3. second turn: most of the prompt comes from the KV cache
type_line "and a second question"
wait_for 'generation: [0-9]+ tokens' 2 && wait_idle || bad "no answer to the second question"
reused=$(screen | grep -o '([0-9]* reused)' | sed -n 2p | tr -dc 0-9)
[ "${reused:-0}" -gt 10 ] || bad "second turn reused ${reused:-0} cached tokens, want > 10"

# 4. /save, /clear, /load, /save: the same conversation and settings
type_line "/save $tmp/a.json"
wait_for '^Saved the conversation' || bad "/save: $(screen | tail -5)"
type_line "/clear"
wait_for '^Cleared the conversation' || bad "/clear"
type_line "/show"
wait_for 'context +8192 \(0 in use\)' || bad "/show after /clear: $(screen | tail -25)"
type_line "/set temperature 0.9"
wait_for '^Set temperature to 0.9\.$' || bad "/set temperature 0.9"
type_line "/load $tmp/a.json"
wait_for '^Loaded 4 messages from' || bad "/load: $(screen | tail -5)"
type_line "/save $tmp/b.json"
wait_for '^Saved the conversation' 2 || bad "second /save"
python3 - "$tmp/a.json" "$tmp/b.json" << 'EOF' || bad "/save -> /load -> /save is not a round trip"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a == b, (a, b)
roles = [m["role"] for m in a["messages"]]
assert roles == ["user", "assistant", "user", "assistant"], roles
assert a["messages"][0]["content"] == "hello there", a["messages"][0]
assert a["messages"][2]["content"] == "and a second question"
assert abs(a["settings"]["temperature"] - 0.5) < 1e-6, a["settings"]
assert a["settings"]["seed"] == 7 and a["settings"]["num_predict"] == 12, a["settings"]
EOF
type_line "/load $tmp/does-not-exist.json"
wait_for '^Cannot load' || bad "/load of a missing file"
echo '{"messages": [{"role": "wizard", "content": 1}]}' > "$tmp/bad.json"
type_line "/load $tmp/bad.json"
wait_for '^Cannot load .*bad.json' || bad "/load of a bad file"

# 5. """ multi-line message and /system
type_line "/system Answer in one word."
wait_for '^Set the system prompt\.$' || bad "/system"
type_line '"""first line'
type_line 'second line"""'
wait_for 'generation: [0-9]+ tokens' 3 && wait_idle || bad "no answer to the multi-line message"
type_line "/save $tmp/c.json"
wait_for '^Saved the conversation' 3 || bad "third /save"
python3 - "$tmp/c.json" << 'EOF' || bad "multi-line message or system prompt not in the conversation"
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
assert m[0] == {"role": "system", "content": "Answer in one word."}, m[0]
assert m[-2] == {"role": "user", "content": "first line\nsecond line"}, m[-2]
assert m[-1]["role"] == "assistant"
EOF

# 6. Ctrl-C during a long answer stops it, not the program
type_line "/set num_predict -1"
wait_for '^Set num_predict to -1\.$' || bad "/set num_predict"
type_line "/clear"
type_line "tell me a very long story"
sleep 1.5
T send-keys -t chat C-c
wait_for '^\[stopped\]$' 1 20 && wait_idle || bad "Ctrl-C did not stop the answer: $(screen | tail -5)"
type_line "/show"
wait_for '^  Settings' 2 || bad "the chat did not go on after Ctrl-C"

# 7. Ctrl-C at the prompt: a hint, the chat goes on; /bye quits with status 0
T send-keys -t chat -l "half a line"
T send-keys -t chat C-c
wait_for '^Use Ctrl-D or /bye to exit' || bad "Ctrl-C at the prompt: $(screen | tail -3)"
type_line "/bye"
for _ in $(seq 1 $((50 * slow))); do [ -s "$tmp/exit.txt" ] && break; sleep 0.1; done
[ "$(cat "$tmp/exit.txt" 2> /dev/null)" = "SLM_EXIT=0" ] || bad "/bye: $(cat "$tmp/exit.txt" 2> /dev/null)"
grep -q 'hello' "$tmp/.slm_history" 2> /dev/null || bad "history not written to ~/.slm_history"
T kill-server 2> /dev/null

# 8. Ctrl-D on an empty line quits with status 0. A fresh tmux server on its own socket: a
# new-session sent to the old socket can race with that server's exit ("server exited
# unexpectedly", seen under ASan in CI).
sock="$tmp/tmux2.sock"
rm -f "$tmp/exit.txt"
T new-session -d -s chat -x 160 -y 50 \
  "HOME='$tmp' '$bin' run '$model' --seed 1 -n 4; echo \"SLM_EXIT=\$?\" > '$tmp/exit.txt'; sleep 60"
wait_idle 30 || bad "second session: no prompt"
T send-keys -t chat C-d
for _ in $(seq 1 $((50 * slow))); do [ -s "$tmp/exit.txt" ] && break; sleep 0.1; done
[ "$(cat "$tmp/exit.txt" 2> /dev/null)" = "SLM_EXIT=0" ] || bad "Ctrl-D: $(cat "$tmp/exit.txt" 2> /dev/null)"

[ $fail -eq 0 ] && echo "test_run_tmux: ok"
exit $fail
