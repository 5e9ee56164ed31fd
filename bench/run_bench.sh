#!/usr/bin/env bash
# slm vs llama.cpp (node-llama-cpp) on the same random-weight GGUFs, same machine, same run,
# interleaved per file, with the machine's memory-bandwidth ceiling for generation.
# Prints one markdown table (see bench/README.md for the columns) and keeps the raw JSON Lines
# (bench/out/DATE.jsonl) and the table (bench/out/DATE.md).
#
# usage: bench/run_bench.sh [-Q] [-s SHAPES] [-q TYPES] [-x TYPES_1B] [-t 1,2] [-r 3] [-p 512]
#                           [-n 128] [-d 4096] [-D 2] [-b BUILD_DIR] [-o OUT.jsonl] [EXTRA.gguf ...]
#   -Q  quick smoke run (~1-2 min): qwen2.5-0.5b q4_0 only, -r 1 -p 64 -n 16 -d 512; options
#       after -Q override it
#   -s  shapes (make_bench_model names), default "qwen2.5-0.5b llama3.2-1b llama3.2-3b"
#   -q  types for every shape, default "q4_0 q4_k_m q8_0"
#   -x  more types for llama3.2-1b only, default "q6_k iq4_xs" ("" for none)
#   -t  thread counts; -r repetitions per test; -p prompt tokens of pp (0 = no pp rows);
#   -n  generated tokens of tg (0 = no tg rows); -d depth of the tg@depth rows (0 = none)
#   -D  thread counts of the tg@depth rows, default the last of -t (their untimed 4096-token fill
#       at 1 thread costs minutes per file and tool; -D 1,2 for both)
#   EXTRA.gguf: more files: a path, or a name in models/bench/; a missing SHAPE-TYPE.gguf name
#       (e.g. gemma3-1b-q4_k_m.gguf, phi4-mini-q4_k_m.gguf) is made there first
# Missing files of the shape/type grid are made with make_bench_model (random weights, real
# shapes, real tokenizers) in models/bench/ (git-ignored; the full grid is ~11 GB).
# Needs: node >= 20, node-llama-cpp in $NLC_DIR (default build-npm/, installed by
# scripts/npm_deps.sh when missing), the peer script $PEER_SCRIPT (default
# ../shared/bench/nlc_bench.mjs). Builds slm + the bench tools in BUILD_DIR (default build/,
# configured with -DSLM_BENCH=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes="qwen2.5-0.5b llama3.2-1b llama3.2-3b"; types="q4_0 q4_k_m q8_0"; types_1b="q6_k iq4_xs"
threads=1,2; reps=3; pp=512; tg=128; depth=4096; dthreads=""; build=build; out=""
while getopts "Qs:q:x:t:r:p:n:d:D:b:o:" o; do
  case $o in
    Q) shapes=qwen2.5-0.5b; types=q4_0; types_1b=""; reps=1; pp=64; tg=16; depth=512;;
    s) shapes=$OPTARG;; q) types=$OPTARG;; x) types_1b=$OPTARG;; t) threads=$OPTARG;; r) reps=$OPTARG;;
    p) pp=$OPTARG;; n) tg=$OPTARG;; d) depth=$OPTARG;; D) dthreads=$OPTARG;; b) build=$OPTARG;; o) out=$OPTARG;;
    *) sed -n '/^# usage:/,/^# Missing/p' "$0" >&2; exit 2;;
  esac
done
shift $((OPTIND - 1))
for v in "$reps" "$pp" "$tg" "$depth"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "run_bench: bad number '$v'" >&2; exit 2; }
done
dthreads=${dthreads:-${threads##*,}}
for v in "$threads" "$dthreads"; do
  [[ $v =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "run_bench: bad thread list '$v'" >&2; exit 2; }
done

PEER=${PEER_SCRIPT:-../shared/bench/nlc_bench.mjs}
FIX=${SLM_FIXTURES:-../shared/fixtures}/models
command -v node >/dev/null || { echo "run_bench: node is not installed" >&2; exit 1; }
[ -f "$PEER" ] || { echo "run_bench: peer script $PEER not found (set PEER_SCRIPT)" >&2; exit 1; }
if [ -z "${NLC_DIR:-}" ]; then
  export NLC_DIR=$PWD/build-npm
  [ -f "$NLC_DIR/node_modules/node-llama-cpp/dist/index.js" ] || SLM_NPM_DIR=$NLC_DIR bash scripts/npm_deps.sh
fi
[ -f "$NLC_DIR/node_modules/node-llama-cpp/dist/index.js" ] ||
  { echo "run_bench: no node-llama-cpp in NLC_DIR=$NLC_DIR (scripts/npm_deps.sh)" >&2; exit 1; }

echo "run_bench: building slm and the bench tools in $build/" >&2
cmake -S . -B "$build" -DSLM_BENCH=ON >/dev/null
tools=(slm make_bench_model bench_membw bench_token_bytes)
if ! cmake --build "$build" -j2 --target "${tools[@]}" >/dev/null 2>"$build/run_bench_build.log"; then
  for t in "${tools[@]}"; do
    [ -x "$build/$t" ] || { cat "$build/run_bench_build.log" >&2; echo "run_bench: build failed" >&2; exit 1; }
  done
  echo "run_bench: WARNING: the build failed ($build/run_bench_build.log); using the binaries already there" >&2
fi
SLM=$build/slm

# ---- the files
mkdir -p models/bench bench/out
tokenizer_of() { # shape -> where make_bench_model takes its tokenizer from
  case $1 in
    llama*|phi4*) echo "$FIX/llama3-tiny/gguf/llama3-tiny-f16.gguf";; # phi4-mini: Llama 3's, padded
    qwen*) echo "$FIX/qwen2-tiny/gguf/qwen2-tiny-f16.gguf";;
    gemma3*) echo "$FIX/gemma3-tiny";;
    *) return 1;;
  esac
}
make_file() { # shape type -> models/bench/SHAPE-TYPE.gguf, made when missing
  local f=models/bench/$1-$2.gguf tok
  if [ ! -f "$f" ]; then
    tok=$(tokenizer_of "$1") || { echo "run_bench: no tokenizer source known for shape $1" >&2; return 2; }
    echo "run_bench: making $f" >&2
    "$build/make_bench_model" "$1" "$2" "$f.partial" "$tok" >&2 && mv "$f.partial" "$f" || return 1
  fi
  files+=("$f")
}
files=()
for s in $shapes; do
  ts=$types; [ "$s" = llama3.2-1b ] && ts="$types $types_1b"
  for q in $ts; do make_file "$s" "$q" || exit 1; done
done
for a in "$@"; do
  if [ -f "$a" ]; then files+=("$a")
  elif [ -f "models/bench/$a" ]; then files+=("models/bench/$a")
  elif [[ $a =~ ^(qwen2\.5-0\.5b|llama3\.2-1b|llama3\.2-3b|gemma3-1b|phi4-mini)-([a-z0-9_]+)\.gguf$ ]]; then
    make_file "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" || exit 1
  else echo "run_bench: $a not found (nor models/bench/$a), and it is no SHAPE-TYPE.gguf name to make" >&2; exit 2
  fi
done
[ ${#files[@]} -gt 0 ] || { echo "run_bench: no files selected" >&2; exit 2; }

# ---- machine state, bandwidth, bytes per token
out=${out:-bench/out/$(date -u +%Y%m%d-%H%M%S).jsonl}
: >"$out"
busy_pct() { # % of all CPUs busy over one second (nothing of ours runs meanwhile)
  { head -1 /proc/stat; sleep 1; head -1 /proc/stat; } |
    awk '{ idle = $5 + $6; tot = 0; for (i = 2; i <= NF; i++) tot += $i
           if (NR == 1) { i0 = idle; t0 = tot } else printf "%.1f\n", 100 * (1 - (idle - i0) / (tot - t0)) }'
}
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //; s/"/ /g')
printf '{"src":"host","cpu":"%s","n_cpu":%d,"loadavg":"%s","date":"%s"}\n' "$cpu" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$out"
b=$(busy_pct)
echo "run_bench: load average $(cut -d' ' -f1-3 /proc/loadavg), CPUs ${b}% busy right now" >&2
if awk -v b="$b" 'BEGIN { exit !(b > 10) }'; then
  echo "run_bench: WARNING: the machine is not idle; other processes will slow both tools (llama.cpp's spinning threads most)" >&2
fi
membw() {
  "$build/bench_membw" -t "$(echo "$threads,$dthreads" | tr , '\n' | sort -nu | paste -sd,)" -m 1024 -n 8 --huge --json |
    node bench/ratio_table.mjs wrap membw "$1" >>"$out"
}
membw start
for f in "${files[@]}"; do
  "$build/bench_token_bytes" "$f" | node bench/ratio_table.mjs wrap bytes "$(basename "$f")" >>"$out"
done
est=$(node bench/ratio_table.mjs estimate "$out" "$threads" "$reps" "$pp" "$tg" "$depth" "$dthreads")
echo "run_bench: ${#files[@]} files, threads $threads, $reps reps, pp$pp tg$tg, depth $depth at threads $dthreads:" \
     "expected duration about $((est / 60)) min $((est % 60)) s (rough)" >&2

# ---- the runs: per file llama.cpp and slm back to back, the first of the pair alternating.
# Each tool run is wrapped by a CPU accounting of the whole machine (/proc/stat) minus what this
# script's children used (/proc/$$/stat cutime + cstime): what other processes took meanwhile.
cpu_snap() { # busy and total jiffies of all CPUs, our children's jiffies
  local busy total ours
  read -r busy total < <(head -1 /proc/stat | awk '{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }')
  ours=$(sed 's/^.*) //' /proc/$$/stat | awk '{ print $14 + $15 }') # fields 16, 17 after pid and comm
  echo "$busy $total $ours"
}
disturbed() { # tool file depth "snap before" "snap after"
  awk -v a="$4" -v b="$5" -v tool="$1" -v file="$(basename "$2")" -v d="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " "); tot = y[2] - x[2]; other = (y[1] - x[1]) - (y[3] - x[3])
    if (other < 0) other = 0
    printf "{\"src\":\"disturb\",\"tool\":\"%s\",\"file\":\"%s\",\"depth\":%d,\"other_pct\":%.1f}\n", tool, file, d, (tot > 0 ? 100 * other / tot : 0) }' >>"$out"
}
opt() { [ "$1" -gt 0 ] && echo "$1" || echo ""; } # nlc_bench takes "" for "no such test"
peer_run() { # file, pp, depth, threads
  local s0; s0=$(cpu_snap)
  node "$PEER" --model "$1" --threads "$4" --pp "$(opt "$2")" --tg "$(opt "$tg")" --depth "$3" \
    --reps "$reps" --json - | node bench/ratio_table.mjs wrap nlc "$(basename "$1")" >>"$out" ||
    echo "run_bench: WARNING: llama.cpp failed on $1 (pp $2, depth $3)" >&2
  disturbed nlc "$1" "$3" "$s0" "$(cpu_snap)"
}
slm_run() { # file, pp, depth, threads
  local s0; s0=$(cpu_snap)
  "$SLM" bench "$1" -p "$2" -n "$tg" -d "$3" -r "$reps" -t "$4" --json |
    node bench/ratio_table.mjs wrap slm "$(basename "$1")" >>"$out" ||
    echo "run_bench: WARNING: slm failed on $1 (pp $2, depth $3)" >&2
  disturbed slm "$1" "$3" "$s0" "$(cpu_snap)"
  echo "$(basename "$1") slm pp$2 tg$tg depth $3 done" >&2
}
i=0
t_start=$(date +%s)
for f in "${files[@]}"; do
  b=$(busy_pct)
  printf '{"src":"idle","file":"%s","busy_pct":%s}\n' "$(basename "$f")" "$b" >>"$out"
  echo "== $f (CPUs ${b}% busy before)" >&2
  stages=()
  [ "$pp" -gt 0 ] || [ "$tg" -gt 0 ] && stages+=("$pp:0:$threads")
  [ "$depth" -gt 0 ] && [ "$tg" -gt 0 ] && stages+=("0:$depth:$dthreads")
  for st in "${stages[@]}"; do
    IFS=: read -r sp sd stt <<<"$st"
    if [ $((i % 2)) -eq 0 ]; then peer_run "$f" "$sp" "$sd" "$stt"; slm_run "$f" "$sp" "$sd" "$stt"
    else slm_run "$f" "$sp" "$sd" "$stt"; peer_run "$f" "$sp" "$sd" "$stt"; fi
  done
  membw "$(basename "$f")" # the bandwidth bracketing this file's rows (ratio_table.mjs)
  i=$((i + 1))
done
echo "run_bench: took $(( $(date +%s) - t_start )) s; raw results in $out" >&2
node bench/ratio_table.mjs table "$out" | tee "${out%.jsonl}.md"
