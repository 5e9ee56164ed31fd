// Reads the JSONL written by bench/run_bench.sh and prints slm vs llama.cpp tokens/s with ratios.
import fs from "node:fs";
const rows = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const key = (file, test, threads) => `${file}|${test}|${threads}`;
const peer = new Map(), ours = new Map();
for (const { src, file, r } of rows) {
  if (src === "nlc") peer.set(key(file, r.test, r.threads), r.median_ts);
  else {
    const test = r.n_gen > 0 ? `tg${r.n_gen}${r.n_depth ? "@d" + r.n_depth : ""}` : `pp${r.n_prompt}`;
    ours.set(key(file, test, r.n_threads), r.avg_ts);
  }
}
console.log("| model file | test | threads | llama.cpp t/s | slm t/s | slm / llama.cpp |");
console.log("|---|---|---:|---:|---:|---:|");
for (const [k, p] of peer) {
  const [file, test, threads] = k.split("|");
  const o = ours.get(k);
  console.log(`| ${file} | ${test} | ${threads} | ${p.toFixed(1)} | ${o ? o.toFixed(1) : "-"} | ${o ? (o / p).toFixed(2) : "-"} |`);
}
