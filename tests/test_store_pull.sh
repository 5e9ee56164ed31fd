#!/usr/bin/env bash
# slm pull / list / rm / cp / create against tests/hubmock/server.mjs (a local imitation of the
# Hugging Face Hub serving the fixture GGUFs). Expected digests come from the fixture files
# themselves (sha256sum), never from what slm printed.
set -u
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}" "${SLM_TMP:?}" "${SLM_SRC:?}"
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 0; }
W=$(mktemp -d "$SLM_TMP/store.XXXXXX")
GG=$SLM_FIXTURES/models/llama2-quant/gguf
node "$SLM_SRC/tests/hubmock/server.mjs" "$W/port" & SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
PORT=$(cat "$W/port")
BASE=http://127.0.0.1:$PORT
export SLM_PULL_RETRY_MS=50
unset HF_TOKEN
fails=0
# HTTP GET without needing the curl tool: node is required for the mock anyway.
get() { node -e 'fetch(process.argv[1]).then(r => r.text()).then(t => process.stdout.write(t))' "$1"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
home() { export SLM_HOME="$W/home-$1"; rm -rf "$SLM_HOME"; }
# pull MODE NAME -> runs slm pull with HF_ENDPOINT in that mode; output in $W/out
pull() { HF_ENDPOINT=$BASE/m/$1 timeout 60 "$SLM_BIN" pull "$2" >"$W/out" 2>&1; }
blob_of() { echo "$SLM_HOME/blobs/sha256-$(sha "$GG/llama2-quant-$1.gguf")"; }
store_clean() { # nothing but lock files in blobs/, no manifests
  [ -z "$(ls "$SLM_HOME/blobs" 2>/dev/null | grep -v '\.lock$')" ] && [ -z "$(ls "$SLM_HOME/manifests" 2>/dev/null)" ]
}

# 1. hf.co name with an explicit quant; the blob must equal the fixture byte for byte.
home hf
if pull ok hf.co/bartowski/Tiny-GGUF:q8_0 && cmp -s "$(blob_of Q8_0)" "$GG/llama2-quant-Q8_0.gguf"; then
  ok "pull hf.co name"; else fail "pull hf.co name: $(cat "$W/out")"; fi
"$SLM_BIN" list >"$W/list" 2>&1
grep -q 'hf.co/bartowski/Tiny-GGUF:q8_0 .*Q8_0' "$W/list" && ok "list shows it" || fail "list: $(cat "$W/list")"
# default quant (Q4_K_M) when none is given
pull ok hf.co/bartowski/Tiny-GGUF && [ -f "$(blob_of Q4_K_M)" ] && ok "default quant Q4_K_M" || fail "default quant: $(cat "$W/out")"
pull ok hf.co/bartowski/Tiny-GGUF:Q9_X; [ $? -ne 0 ] && grep -q 'no Q9_X GGUF' "$W/out" && ok "unknown quant refused" || fail "unknown quant: $(cat "$W/out")"
pull ok hf.co/bartowski/Missing-GGUF; [ $? -ne 0 ] && grep -qi 'not found' "$W/out" && ok "missing repo" || fail "missing repo: $(cat "$W/out")"

# HF_TOKEN goes to the endpoint as a bearer token.
get "$BASE/stats?reset=1" >/dev/null
HF_TOKEN=hf_secret123 pull ok hf.co/bartowski/Tiny-GGUF:Q8_0 && get "$BASE/stats" | grep -q '"auth":"Bearer hf_secret123"' \
  && ok "HF_TOKEN sent" || fail "HF_TOKEN: $(get "$BASE/stats")"
# A direct URL (no Hub listing): stored under the file's name, digest computed.
pull ok "$BASE/m/ok/cdn/llama2-quant-Q3_K_M.gguf" && cmp -s "$(blob_of Q3_K_M)" "$GG/llama2-quant-Q3_K_M.gguf" \
  && "$SLM_BIN" list | grep -q '^llama2-quant-Q3_K_M ' && ok "pull a direct URL" || fail "direct URL: $(cat "$W/out")"
pull ok "http://example.com/x.gguf"; [ $? -ne 0 ] && grep -q 'only https' "$W/out" && ok "plain http URL refused" || fail "http URL: $(cat "$W/out")"

# 2. catalog names resolve through HF_ENDPOINT; a :quant / -quant tag selects another file.
home cat
pull ok qwen2.5:0.5b && [ -f "$(blob_of Q4_K_M)" ] && ok "catalog name" || fail "catalog name: $(cat "$W/out")"
pull ok qwen2.5:0.5b-q5_k_m && [ -f "$(blob_of Q5_K_M)" ] && ok "catalog name with quant" || fail "catalog quant: $(cat "$W/out")"
pull ok nosuchmodel:1b; [ $? -ne 0 ] && grep -q 'not in the catalog' "$W/out" && ok "unknown catalog name" || fail "unknown catalog: $(cat "$W/out")"

# 3. list / cp / rm / create: names share blobs; a blob goes with its last name.
B=$(blob_of Q4_K_M)
"$SLM_BIN" cp qwen2.5:0.5b mine/copy:v1 2>"$W/out" && "$SLM_BIN" list | grep -q '^mine/copy:v1 ' && ok "cp" || fail "cp: $(cat "$W/out")"
"$SLM_BIN" cp qwen2.5:0.5b mine/copy:v1 2>/dev/null && fail "cp over an existing name" || ok "cp refuses to overwrite"
"$SLM_BIN" rm qwen2.5:0.5b 2>/dev/null && [ -f "$B" ] && ok "rm keeps a shared blob" || fail "rm shared"
"$SLM_BIN" rm mine/copy:v1 2>/dev/null && [ ! -f "$B" ] && ok "rm deletes the last reference" || fail "rm last"
"$SLM_BIN" rm mine/copy:v1 2>/dev/null && fail "rm of a missing name succeeded" || ok "rm missing name fails"
printf '{{ messages }}' >"$W/tmpl"
if "$SLM_BIN" create helper --from qwen2.5:0.5b-q5_k_m --system "Be brief." --template "$W/tmpl" \
     --param temperature=0.25 --param stop='<|end|>' --param stop=END 2>"$W/out"; then
  M=$(ls "$SLM_HOME"/manifests/helper.json)
  node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));
    if(m.system!=="Be brief."||m.template!=="{{ messages }}"||m.params.temperature!==0.25||m.params.stop.join()!=="<|end|>,END") process.exit(1)' "$M" \
    && ok "create stores defaults" || fail "create manifest: $(cat "$M")"
  [ "$("$SLM_BIN" list --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).find(x=>x.name==="helper");console.log(m?m.size:0)})')" = "$(stat -c %s "$GG/llama2-quant-Q5_K_M.gguf")" ] \
    && ok "create shares the blob" || fail "create blob size"
else fail "create: $(cat "$W/out")"; fi
"$SLM_BIN" create fromfile --from "$GG/llama2-quant-Q2_K.gguf" 2>"$W/out" && cmp -s "$(blob_of Q2_K)" "$GG/llama2-quant-Q2_K.gguf" \
  && ok "create from a GGUF file" || fail "create from file: $(cat "$W/out")"

# 4. hostile names: nothing is written outside the store.
home names
for n in ../evil /etc/passwd 'hf.co/../../evil' 'hf.co/a/../b' 'hf.co/a/b:../x' '.hidden' 'a//b' 'x;rm' $'a\nb'; do
  pull ok "$n"; [ $? -ne 0 ] || fail "pull accepted '$n'"
  "$SLM_BIN" create "$n" --from "$GG/llama2-quant-Q2_K.gguf" 2>/dev/null && fail "create accepted '$n'"
done
pull ok qwen2.5:0.5b >/dev/null
for n in ../evil /tmp/evil 'a/../../evil'; do
  "$SLM_BIN" cp qwen2.5:0.5b "$n" 2>/dev/null && fail "cp accepted '$n'"
  "$SLM_BIN" rm "$n" 2>/dev/null && fail "rm accepted '$n'"
done
[ ! -e "$W/evil" ] && [ ! -e "$SLM_HOME/evil" ] && [ ! -e /tmp/evil ] && ok "traversal names refused" || fail "something escaped"
pull evil hf.co/o/r; [ $? -ne 0 ] && [ ! -e "$W/evil-Q4_K_M.gguf" ] && ok "traversal paths in a listing ignored" || fail "evil listing"

# 5. checksum mismatch: refused, and nothing (no blob, no partial, no manifest) is left.
home badsha
pull badsha hf.co/o/r:Q4_0; rc=$?
[ $rc -ne 0 ] && grep -q 'sha256 mismatch' "$W/out" && store_clean && ok "wrong checksum rejected" || fail "badsha rc=$rc: $(cat "$W/out"); $(ls "$SLM_HOME"/*)"

# 6. lying sizes: a Content-Length that disagrees, a listing that understates the file.
home lie
pull lielen hf.co/o/r:Q4_0; [ $? -ne 0 ] && grep -q 'Content-Length' "$W/out" && store_clean && ok "lying Content-Length" || fail "lielen: $(cat "$W/out")"
pull big hf.co/o/r:Q4_0; [ $? -ne 0 ] && store_clean && ok "understated size" || fail "big: $(cat "$W/out")"
pull bigchunk hf.co/o/r:Q4_0; [ $? -ne 0 ] && grep -q 'more bytes' "$W/out" && store_clean && ok "more bytes than listed (chunked)" || fail "bigchunk: $(cat "$W/out")"

# Not enough disk space (a margin larger than any disk): refused before downloading anything.
SLM_STORE_DISK_MARGIN=1000000000000000000 pull ok hf.co/o/r:Q4_0; [ $? -ne 0 ] && grep -q 'not enough disk space' "$W/out" && store_clean \
  && ok "disk space check" || fail "disk: $(cat "$W/out")"

# 7. redirects to another host over plain http are refused.
home xhost
pull xhost hf.co/o/r:Q4_0; [ $? -ne 0 ] && grep -q 'refusing redirect' "$W/out" && store_clean && ok "cross-host redirect refused" || fail "xhost: $(cat "$W/out")"

# 8. resume: the server cuts the first transfer mid-file; the retry continues with a Range request.
home cut
get "$BASE/stats?reset=1" >/dev/null
pull cut hf.co/o/r:Q4_0 && cmp -s "$(blob_of Q4_0)" "$GG/llama2-quant-Q4_0.gguf" || fail "cut: $(cat "$W/out")"
get "$BASE/stats" | grep -q '"rangeStarts":\[0,[1-9]' && ok "resumed after a cut connection" || fail "no Range resume: $(get "$BASE/stats")"
pull flaky hf.co/o/r:Q5_0 && grep -q retrying "$W/out" && ok "retry after HTTP 503" || fail "flaky: $(cat "$W/out")"

# 9. Ctrl-C leaves a resumable .partial (and no manifest); the next pull resumes it.
home intr
HF_ENDPOINT=$BASE/m/slow "$SLM_BIN" pull hf.co/o/r:Q4_1 >"$W/out" 2>&1 & P=$!
for _ in $(seq 100); do ls "$SLM_HOME"/blobs/*.partial >/dev/null 2>&1 && [ "$(stat -c %s "$SLM_HOME"/blobs/*.partial)" -gt 100000 ] && break; sleep 0.1; done
kill -INT $P; wait $P; rc=$?
PART=$(ls "$SLM_HOME"/blobs/*.partial 2>/dev/null)
[ $rc -eq 130 ] && [ -n "$PART" ] && [ -z "$(ls "$SLM_HOME/manifests")" ] && ok "interrupt keeps a partial" || fail "interrupt rc=$rc: $(cat "$W/out")"
get "$BASE/stats?reset=1" >/dev/null
pull ok hf.co/o/r:Q4_1 && cmp -s "$(blob_of Q4_1)" "$GG/llama2-quant-Q4_1.gguf" && [ ! -e "$PART" ] || fail "resume after interrupt: $(cat "$W/out")"
get "$BASE/stats" | grep -q '"rangeStarts":\[[1-9]' && ok "resumed after interrupt" || fail "interrupt resume not ranged: $(get "$BASE/stats")"

# 10. two concurrent pulls of the same model: both succeed, one download, one blob.
home conc
get "$BASE/stats?reset=1" >/dev/null
HF_ENDPOINT=$BASE/m/slow "$SLM_BIN" pull hf.co/o/r:Q5_1 >"$W/o1" 2>&1 & P1=$!
HF_ENDPOINT=$BASE/m/slow "$SLM_BIN" pull hf.co/o/r:Q5_1 >"$W/o2" 2>&1 & P2=$!
wait $P1; r1=$?; wait $P2; r2=$?
gets=$(get "$BASE/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).cdnGets))')
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$gets" = 1 ] && cmp -s "$(blob_of Q5_1)" "$GG/llama2-quant-Q5_1.gguf" && [ -z "$(ls "$SLM_HOME"/blobs/*.partial 2>/dev/null)" ] \
  && ok "concurrent pulls" || fail "concurrent r1=$r1 r2=$r2 gets=$gets: $(cat "$W/o1" "$W/o2")"

# 11. store names work wherever a MODEL is taken; `slm run NAME` pulls first when the store lacks it.
home names
pull ok hf.co/o/r:Q8_0 >/dev/null
"$SLM_BIN" show hf.co/o/r:Q8_0 --json 2>"$W/out" | grep -q '"file_type":"Q8_0"' && ok "show by store name" || fail "show by name: $(cat "$W/out")"
"$SLM_BIN" tokenize hf.co/o/r:Q8_0 <<<"hello" 2>"$W/out" | grep -q '^\[' && ok "tokenize by store name" || fail "tokenize by name: $(cat "$W/out")"
HF_ENDPOINT=$BASE/m/ok timeout 60 "$SLM_BIN" run hf.co/o/r:Q4_K_M --raw "Hello" -n 3 --temp 0 >"$W/run" 2>"$W/out" \
  && cmp -s "$(blob_of Q4_K_M)" "$GG/llama2-quant-Q4_K_M.gguf" && [ -s "$W/run" ] && ok "run pulls a missing model, then runs it" \
  || fail "run auto-pull: $(cat "$W/out")"
# `slm create` defaults: shown by show, used by run where the command line is silent.
"$SLM_BIN" create greedy --from hf.co/o/r:Q8_0 --param temperature=0 --system "Be brief." >/dev/null 2>&1
"$SLM_BIN" show greedy | grep -q "Be brief." && ok "show lists create defaults" || fail "show defaults"
a=$("$SLM_BIN" run greedy --raw "Hello" -n 8 2>/dev/null); b=$("$SLM_BIN" run hf.co/o/r:Q8_0 --raw "Hello" -n 8 --temp 0 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok "run uses the created temperature" || fail "create defaults not applied: '$a' vs '$b'"
"$SLM_BIN" show no/such:model >/dev/null 2>"$W/out" && fail "show of an unknown name succeeded" || ok "unknown name: $(head -c 120 "$W/out")"

[ $fails -eq 0 ] && echo "all store tests passed" || echo "$fails store test(s) failed"
exit $((fails > 0))
