#!/usr/bin/env bash
# `slm show` on broken model files: every one must fail with exit code 1 and a one-line message on
# stderr naming the problem (never a crash, hang or output on stdout). The files are made here from a
# valid fixture: truncated at every section boundary and inside sections, and with lying fields.
set -euo pipefail
: "${SLM_BIN:?}" "${SLM_FIXTURES:?}" "${SLM_TMP:?}"
src=$SLM_FIXTURES/models/llama2-quant/gguf/llama2-quant-Q4_0.gguf
d=$SLM_TMP/show_bad
rm -rf "$d"; mkdir -p "$d"
size=$(stat -c %s "$src")
# Offsets of the sections, read from the file: header 24 bytes, then metadata, tensor infos, data.
n_kv=$(od -An -t u8 -j 16 -N 8 "$src" | tr -d ' ')
fail=0; n=0
expect_fail() { # label file expected-substring
  n=$((n + 1))
  set +e; out=$(timeout 20 "$SLM_BIN" show "$2" 2>"$d/err"); rc=$?; set -e
  err=$(head -c 300 "$d/err")
  if [ $rc -ne 1 ] || [ -n "$out" ] || [[ "$err" != slm:* ]] || [[ "$err" != *"$3"* ]]; then
    echo "FAIL $1: rc=$rc stderr='$err' (want exit 1 and '$3')"; fail=1
  else
    echo "ok   $1: $err"
  fi
}
patch() { # file offset hexbytes : overwrite bytes in place
  printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
for cut in 0 3 4 7 8 15 16 23 24 40 100 1000 100000 700000; do
  head -c "$cut" "$src" > "$d/trunc$cut.gguf"
  expect_fail "truncated at $cut" "$d/trunc$cut.gguf" ""
done
# Data section cut short (metadata intact): the last tensors would read past EOF.
head -c $((size - 1)) "$src" > "$d/short1.gguf"; expect_fail "1 byte short" "$d/short1.gguf" ""
head -c $((size / 2)) "$src" > "$d/half.gguf"; expect_fail "half the file" "$d/half.gguf" ""
cp "$src" "$d/magic.gguf"; patch "$d/magic.gguf" 0 46554747; expect_fail "bad magic" "$d/magic.gguf" "magic"
cp "$src" "$d/v1.gguf"; patch "$d/v1.gguf" 4 01000000; expect_fail "version 1" "$d/v1.gguf" "version"
cp "$src" "$d/v99.gguf"; patch "$d/v99.gguf" 4 63000000; expect_fail "version 99" "$d/v99.gguf" "version"
cp "$src" "$d/ntens.gguf"; patch "$d/ntens.gguf" 8 ffffffffffffff7f; expect_fail "huge tensor count" "$d/ntens.gguf" "tensor"
cp "$src" "$d/nkv.gguf"; patch "$d/nkv.gguf" 16 ffffffffffffff7f; expect_fail "huge key count" "$d/nkv.gguf" ""
cp "$src" "$d/nkv1.gguf"; patch "$d/nkv1.gguf" 16 "$(printf '%016x' $((n_kv + 1)) | sed 's/\(..\)/\1 /g' | awk '{for(i=NF;i>0;i--) printf $i}')"
expect_fail "one key too many" "$d/nkv1.gguf" ""
cp "$src" "$d/keylen.gguf"; patch "$d/keylen.gguf" 24 ffffffffffff0000; expect_fail "lying key length" "$d/keylen.gguf" ""
# The first value type field (after the first key "general.architecture", 8 + 20 bytes in).
cp "$src" "$d/vtype.gguf"; patch "$d/vtype.gguf" 52 63000000; expect_fail "bad value type" "$d/vtype.gguf" "type"
printf 'not a model at all\n' > "$d/text.gguf"; expect_fail "text file" "$d/text.gguf" ""
: > "$d/empty.gguf"; expect_fail "empty file" "$d/empty.gguf" ""
mkdir -p "$d/emptydir"; expect_fail "empty folder" "$d/emptydir" ""
mkdir -p "$d/badhf"; printf '{"architectures": ["LlamaForCausalLM"], "hidden_size": ' > "$d/badhf/config.json"
expect_fail "folder with broken config.json" "$d/badhf" "config.json"
echo "$n broken inputs checked"
[ $n -ge 20 ] || { echo "FAIL: fewer than 20 cases"; fail=1; }
exit $fail
