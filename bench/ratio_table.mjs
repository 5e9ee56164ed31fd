// Helpers of bench/run_bench.sh, all over the JSON Lines file one run writes (bench/out/*.jsonl).
//
//   node bench/ratio_table.mjs OUT.jsonl            the markdown ratio table (+ notes) on stdout
//   node bench/ratio_table.mjs table OUT.jsonl      same
//   node bench/ratio_table.mjs wrap SRC FILE        stdin (a JSON array, or JSON Lines) -> one line
//                                                   {"src":SRC,"file":FILE,"r":ROW} per row
//   node bench/ratio_table.mjs estimate OUT.jsonl THREADS REPS PP TG DEPTH [DEPTH_THREADS]
//                                                   rough duration of the run, in seconds
//
// Records in OUT.jsonl (one JSON object per line, "src" says which):
//   host   {cpu, n_cpu, loadavg, date}                      once, at the start
//   membw  {file, r: bench_membw row}                       read bandwidth: file "start", then
//                                                           after each file's runs (its name)
//   bytes  {file, r: bench_token_bytes object}              bytes a token reads, per file
//   idle   {file, busy_pct}                                 other processes' CPU use just before
//   disturb {tool, file, depth, other_pct}                  other processes' share of all CPUs
//                                                           while that tool ran that file's stage
//   nlc    {file, r: nlc_bench.mjs row}                     llama.cpp (node-llama-cpp)
//   slm    {file, r: slm bench --json row}                  slm (llama-bench fields)
//
// Speeds: the median of the repetitions for both tools (the machine is shared; a median shrugs
// off one disturbed repetition, a mean does not). slm's samples_ts holds its repetitions.
//
// Bandwidth ceiling of a tg row (threads T, n generated tokens after depth D):
//   bytes/token = weight_bytes_per_token (bench_token_bytes: all tensors, one token_embd row when
//                 output.weight is separate) + KV bytes read at the average context D + (n+1)/2
//   ceiling t/s = best read bandwidth at T threads (bench_membw, the measurements just before and
//                 after that file's runs; see bandwidthPerFile) / bytes
//   % of ceiling = measured t/s / ceiling t/s
import fs from "node:fs";

// bench_membw's access patterns: the best of one stream per thread and several streams in lockstep.
const patText = (mb) => (mb.r.pattern ? ` in the best of its access patterns, one or several streams per thread` : "");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const readRows = (path) =>
  fs.readFileSync(path, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

function wrap(src, file) {
  let s = "";
  process.stdin.on("data", (d) => (s += d)).on("end", () => {
    s = s.trim();
    if (!s) return;
    let rows;
    try { // one JSON value (an array of rows, or one pretty-printed object) ...
      const v = JSON.parse(s);
      rows = Array.isArray(v) ? v : [v];
    } catch { // ... or JSON Lines
      rows = s.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    }
    for (const r of rows) console.log(JSON.stringify({ src, file, r }));
  });
}

// Best read bandwidth (bytes/s) per thread count over membw records.
function bandwidth(records) {
  const bw = new Map();
  for (const x of records) {
    const t = x.r.threads, b = x.r.best_gbps * 1e9;
    if (!(bw.get(t) >= b)) bw.set(t, b);
  }
  // More threads can always leave some idle: T threads get at least what fewer got (on a busy
  // machine a 2-thread pass can measure below the 1-thread one).
  let best = 0;
  for (const t of [...bw.keys()].sort((a, b) => a - b)) bw.set(t, (best = Math.max(best, bw.get(t))));
  return bw;
}

// The bandwidth that brackets each file's runs: the best of the measurement just before them
// (the previous file's, or "start") and the one just after (run_bench.sh measures after every
// file). A shared host's bandwidth drifts by tens of percent within minutes (seen here: 2-thread
// 33 -> 53 GB/s); a ceiling from the whole run's best would compare a row with another moment.
// Runs without per-file records (older files) fall back to the whole run's best.
function bandwidthPerFile(rows) {
  const perFile = new Map();
  let last = [], group = [], lastSrc = "";
  for (const x of rows) {
    if (x.src === "membw") {
      if (lastSrc !== "membw") group = [];
      group.push(x);
      last = group;
      if (perFile.has(x.file)) perFile.get(x.file).after.push(x);
    } else if ((x.src === "nlc" || x.src === "slm") && !perFile.has(x.file)) {
      perFile.set(x.file, { before: last, after: [] });
    }
    lastSrc = x.src;
  }
  const out = new Map();
  for (const [file, { before, after }] of perFile) if (after.length) out.set(file, bandwidth([...before, ...after]));
  return out;
}

// Bytes one token reads at context length ctx (see bench_token_bytes.c).
function tokenBytes(b, ctx) {
  const swaCtx = b.swa_window > 0 ? Math.min(ctx, b.swa_window) : ctx;
  return b.weight_bytes_per_token + b.kv_bytes_per_pos_full * ctx + b.kv_bytes_per_pos_swa * swaCtx;
}

const testName = (r) => r.n_gen > 0 && r.n_prompt === 0
  ? `tg${r.n_gen}${r.n_depth ? `@d${r.n_depth}` : ""}`
  : `pp${r.n_prompt}${r.n_gen ? `+tg${r.n_gen}` : ""}${r.n_depth ? `@d${r.n_depth}` : ""}`;

function table(path) {
  const rows = readRows(path);
  const bw = bandwidth(rows.filter((x) => x.src === "membw"));
  const bwFile = bandwidthPerFile(rows);
  const bytes = new Map(rows.filter((x) => x.src === "bytes").map((x) => [x.file, x.r]));
  const key = (f, test, t) => `${f}|${test}|${t}`;
  const peer = new Map(), ours = new Map(), order = [];
  for (const x of rows) {
    if (x.src === "nlc") {
      const k = key(x.file, x.r.test, x.r.threads);
      peer.set(k, { ts: x.r.median_ts, n: x.r.n, depth: x.r.depth, test: x.r.test });
      if (!order.includes(k)) order.push(k);
    } else if (x.src === "slm") {
      const test = testName(x.r);
      const k = key(x.file, test, x.r.n_threads);
      ours.set(k, { ts: median(x.r.samples_ts), n: x.r.n_gen, depth: x.r.n_depth, test });
      if (!order.includes(k)) order.push(k);
    }
  }
  // Other processes' CPU share during a row's runs (the worse of the two tools).
  const disturb = new Map();
  for (const x of rows.filter((x) => x.src === "disturb")) {
    const k = `${x.file}|${x.depth}`;
    disturb.set(k, Math.max(disturb.get(k) ?? 0, x.other_pct));
  }
  const noisy = [];
  const out = [];
  const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : "-");
  const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : "-");
  const pct = (v) => (Number.isFinite(v) ? `${(100 * v).toFixed(0)}%` : "-");
  out.push("| file | test | threads | llama.cpp t/s | slm t/s | slm / llama.cpp | slm % of bw ceiling | ceiling t/s | llama.cpp % of ceiling |");
  out.push("|---|---|---:|---:|---:|---:|---:|---:|---:|");
  const bar = { ratio: [0, 0], ceil: [0, 0] };
  const below = [];
  for (const k of order) {
    const [file, test, threads] = k.split("|");
    const p = peer.get(k), o = ours.get(k);
    const ref = o ?? p;
    let ceil = NaN;
    const b = bytes.get(file), band = (bwFile.get(file) ?? bw).get(Number(threads));
    if (test.startsWith("tg") && b && band) ceil = band / tokenBytes(b, ref.depth + (ref.n + 1) / 2);
    const ratio = p && o ? o.ts / p.ts : NaN;
    const other = disturb.get(`${file}|${ref.depth ?? 0}`) ?? 0;
    const mark = other > 10 ? " (!)" : "";
    if (mark) noisy.push(`${file} ${test} (${other.toFixed(0)}%)`);
    if (Number.isFinite(ratio)) {
      bar.ratio[1]++;
      if (ratio >= 1.0) bar.ratio[0]++;
      else below.push(`${file} ${test} t=${threads}: ${ratio.toFixed(2)}x`);
    }
    if (o && Number.isFinite(ceil) && ref.depth === 0) {
      bar.ceil[1]++;
      if (o.ts / ceil >= 0.8) bar.ceil[0]++;
      else below.push(`${file} ${test} t=${threads}: ${pct(o.ts / ceil)} of ceiling`);
    }
    out.push(`| ${file} | ${test}${mark} | ${threads} | ${f1(p?.ts)} | ${f1(o?.ts)} | ${f2(ratio)} | ` +
      `${o ? pct(o.ts / ceil) : "-"} | ${f1(ceil)} | ${p ? pct(p.ts / ceil) : "-"} |`);
  }
  out.push("");
  const bwText = [...bw].sort((a, b) => a[0] - b[0]).map(([t, b]) => `${t} thread${t > 1 ? "s" : ""} ${(b / 1e9).toFixed(1)} GB/s`);
  const mb = rows.find((x) => x.src === "membw");
  if (mb && bwFile.size) {
    const range = (t) => {
      const v = [...bwFile.values()].map((m) => m.get(t)).filter(Number.isFinite);
      return `${(Math.min(...v) / 1e9).toFixed(1)}-${(Math.max(...v) / 1e9).toFixed(1)}`;
    };
    out.push(`Read bandwidth (bench_membw, best of ${mb.r.passes} passes over ${mb.r.buffer_mib} MiB${patText(mb)}, measured before and after each file; a row's ceiling uses the best of its file's two): ` +
      [...bw.keys()].sort((a, b) => a - b).map((t) => `${t} thread${t > 1 ? "s" : ""} ${range(t)} GB/s`).join(", ") +
      ` (whole run's best: ${bwText.join(", ")}).`);
  } else if (mb) {
    out.push(`Read bandwidth (bench_membw, best of ${mb.r.passes} passes over ${mb.r.buffer_mib} MiB${patText(mb)}, best of the start and end measurements): ${bwText.join(", ")}.`);
  }
  const host = rows.find((x) => x.src === "host");
  const nlcInfo = rows.find((x) => x.src === "nlc")?.r.info;
  if (host) out.push(`Machine: ${host.cpu}, ${host.n_cpu} CPUs, ${host.date}; slm kernels: ${mb?.r.slm_kernels ?? "?"}; ` +
    `llama.cpp: ${nlcInfo ? `${nlcInfo.llama_cpp} via node-llama-cpp ${nlcInfo.nlc_version} (${nlcInfo.cpu_variant})` : "?"}.`);
  for (const [file, b] of bytes)
    out.push(`Bytes per token ${file}: ${(b.weight_bytes_per_token / 1e6).toFixed(1)} MB of weights` +
      `${b.tied_embeddings ? " (tied embeddings: all of token_embd, used as the output matrix)" : ` (output.weight + one ${b.embd_row_bytes}-byte token_embd row)`}` +
      ` + ${(b.kv_bytes_per_pos_full / 1024).toFixed(0)} KiB of KV per context position${b.kv_bytes_per_pos_swa ? ` (+ ${(b.kv_bytes_per_pos_swa / 1024).toFixed(0)} KiB on sliding layers, window ${b.swa_window})` : ""}.`);
  const busy = rows.filter((x) => x.src === "idle" && x.busy_pct > 10);
  if (busy.length) out.push(`WARNING: the machine was not idle before ${busy.map((x) => `${x.file} (${x.busy_pct.toFixed(0)}% busy)`).join(", ")}: those rows are disturbed.`);
  if (noisy.length) out.push(`(!) other processes used > 10% of the CPUs while these rows ran: ${[...new Set(noisy)].join(", ")}; do not trust them.`);
  out.push(`Bar: slm >= 1.0x llama.cpp on ${bar.ratio[0]}/${bar.ratio[1]} rows; tg (depth 0) >= 80% of the bandwidth ceiling on ${bar.ceil[0]}/${bar.ceil[1]} rows.`);
  if (below.length) out.push(`Below the bar: ${below.join("; ")}.`);
  console.log(out.join("\n"));
}

// Rough run time: prompt work at ~80 GFLOP/s per thread (2 flops per parameter per token; what
// both tools reach on Zen 3/4 cores within a factor of 1.5),
// generation at 60% of the measured bandwidth, both tools, warm-ups, depth fills, loads.
function estimate(path, threads, reps, pp, tg, depth, depthThreads) {
  const rows = readRows(path);
  const bw = bandwidth(rows.filter((x) => x.src === "membw"));
  const bwFile = bandwidthPerFile(rows);
  let s = 0;
  const list = (x) => String(x).split(",").map(Number).filter((t) => t > 0);
  for (const b of rows.filter((x) => x.src === "bytes").map((x) => x.r)) {
    const band = (t) => (bw.get(t) ?? 20e9) * 0.6, flops = (t) => 80e9 * t;
    const ppS = (n, t) => (n * 2 * b.n_params) / flops(t);
    const tgS = (n, d, t) => (n * tokenBytes(b, d + n / 2)) / band(t);
    for (const t of list(threads)) {
      if (pp > 0) s += 2 * (reps + 1) * ppS(pp, t);
      if (tg > 0) s += 2 * (reps * tgS(tg, 0, t) + tgS(2, 0, t));
    }
    for (const t of list(depthThreads)) // one untimed fill per tool (+15% for the attention)
      if (depth > 0 && tg > 0) s += 2 * (1.15 * ppS(depth, t) + reps * tgS(tg, depth, t));
    s += (depth > 0 ? 4 : 2) * (2 + b.file_bytes / 1e9); // process start, load, page-in
  }
  console.log(Math.round(s));
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === "wrap") wrap(rest[0], rest[1]);
else if (cmd === "estimate") estimate(rest[0], rest[1], Number(rest[2]), Number(rest[3]), Number(rest[4]), Number(rest[5]), rest[6] ?? rest[1]);
else if (cmd === "table") table(rest[0]);
else if (cmd && fs.existsSync(cmd)) table(cmd);
else {
  console.error("usage: node bench/ratio_table.mjs [table] OUT.jsonl | wrap SRC FILE | estimate OUT.jsonl THREADS REPS PP TG DEPTH [DEPTH_THREADS]");
  process.exit(2);
}
