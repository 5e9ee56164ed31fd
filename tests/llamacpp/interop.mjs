// llama.cpp (through node-llama-cpp's prebuilt CPU binaries) on GGUF files that slm wrote.
//
//   node interop.mjs PLAN.json
//
// PLAN.json: {"tasks": [
//   {"name", "kind": "greedy", "model": GGUF, "reference": fixtures .../reference/<kind>.json}
//       llama.cpp's greedy continuation of the reference input_ids must equal greedy.new_ids up to
//       (not including) the first step whose reference top1 margin is below MARGIN_MIN;
//   {"name", "kind": "tokenize", "model": GGUF, "texts": FILE, "expect": FILE}
//       texts: one JSON string per line; expect: one JSON id array per line (slm tokenize
//       --jsonl); model.tokenize(text, false) must give exactly those ids. With "same_as": GGUF,
//       the ids must instead equal llama.cpp's own on that file (for vocabularies where slm and
//       llama.cpp knowingly differ), and agreement with slm is only reported.
// ]}
// node-llama-cpp is loaded from $NLC_DIR/node_modules/node-llama-cpp. Prints one line per task and
// exits 1 if any task fails, 2 if node-llama-cpp cannot be loaded.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

// llama.cpp computes with an f16 KV cache and quantized activations: its logits are within ~2e-2
// of the float32 reference on the f16 fixtures, so only steps with a larger margin are decisive.
const MARGIN_MIN = 0.04;

const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const entry = path.join(process.env.NLC_DIR ?? "", "node_modules", "node-llama-cpp", "dist", "index.js");
let nlc;
try {
  nlc = await import(pathToFileURL(entry).href);
} catch (e) {
  console.log(`cannot load node-llama-cpp from ${entry}: ${e.message}`);
  process.exit(2);
}
const llama = await nlc.getLlama({
  gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
  logLevel: nlc.LlamaLogLevel.error, logger: () => {},
});

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

const readLines = (f) => fs.readFileSync(f, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

async function runGreedy(model, t) {
  const ref = JSON.parse(fs.readFileSync(t.reference, "utf8"));
  t = { prompt_ids: ref.input_ids, expect_ids: ref.greedy.new_ids, margins: ref.greedy.steps.map((s) => s.top1_margin) };
  const context = await model.createContext({ contextSize: 256, batchSize: 16, threads: 2, sequences: 1 });
  try {
    const seq = context.getSequence();
    const got = [];
    for await (const tok of seq.evaluate(t.prompt_ids, { temperature: 0, yieldEogToken: true })) {
      got.push(tok);
      if (got.length >= t.expect_ids.length) break;
    }
    // All 16 steps must agree, or at least those before the first low-margin reference step.
    let n = t.expect_ids.length;
    const low = t.margins.findIndex((m) => m < MARGIN_MIN);
    if (!same(got, t.expect_ids) && low >= 0) n = low;
    const ok = same(got.slice(0, n), t.expect_ids.slice(0, n));
    return { ok, msg: `greedy ${JSON.stringify(got)} vs reference ${JSON.stringify(t.expect_ids)} (${n} steps compared)` };
  } finally {
    await context.dispose();
  }
}

async function runTokenize(model, spec) {
  const texts = readLines(spec.texts), slm = readLines(spec.expect);
  if (texts.length !== slm.length) return { ok: false, msg: `${texts.length} texts but ${slm.length} id lists` };
  let expect = slm, other = null;
  if (spec.same_as) {
    other = await llama.loadModel({ modelPath: spec.same_as, gpuLayers: 0, vocabOnly: true });
    expect = texts.map((text) => Array.from(other.tokenize(text, false)));
    await other.dispose();
  }
  let bad = 0, slmBad = 0, first = "";
  texts.forEach((text, i) => {
    const got = Array.from(model.tokenize(text, false));
    if (!same(got, slm[i])) slmBad++;
    if (!same(got, expect[i])) {
      if (!bad) first = `; first: ${JSON.stringify(text.slice(0, 40))} ours ${JSON.stringify(got.slice(0, 12))} expected ${JSON.stringify(expect[i].slice(0, 12))}`;
      bad++;
    }
  });
  const vs = spec.same_as ? `as on ${path.basename(spec.same_as)} (slm tokenize agrees on ${texts.length - slmBad})` : "as slm tokenize";
  return { ok: bad === 0 && texts.length > 0, msg: `${texts.length - bad}/${texts.length} texts tokenized ${vs}${first}` };
}

let failed = 0;
const models = new Map();
for (const t of plan.tasks) {
  let res;
  try {
    if (!models.has(t.model)) {
      for (const m of models.values()) await m.dispose(); // one model at a time keeps memory small
      models.clear();
      models.set(t.model, await llama.loadModel({ modelPath: t.model, gpuLayers: 0 }));
    }
    const model = models.get(t.model);
    res = t.kind === "greedy" ? await runGreedy(model, t) : await runTokenize(model, t);
  } catch (e) {
    res = { ok: false, msg: `error: ${e.message}` };
  }
  if (!res.ok) failed++;
  console.log(`${res.ok ? "ok  " : "FAIL"} ${t.name}: ${res.msg}`);
}
for (const m of models.values()) await m.dispose();
await llama.dispose();
process.exit(failed ? 1 : 0);
