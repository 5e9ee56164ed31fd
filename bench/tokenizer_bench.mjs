// llama.cpp's tokenizer (node-llama-cpp, vocab-only load) on the same text: best of 3, MB/s.
// usage: node bench/tokenizer_bench.mjs TEXT_FILE GGUF...
import fs from "node:fs";
import path from "node:path";
const nlc = process.env.NLC_DIR ? path.join(process.env.NLC_DIR, "node_modules/node-llama-cpp/dist/index.js") : "node-llama-cpp";
const { getLlama } = await import(nlc);
const text = fs.readFileSync(process.argv[2], "utf8");
const llama = await getLlama({ gpu: false, build: "never" });
for (const file of process.argv.slice(3)) {
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  let best = Infinity, toks;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    toks = model.tokenize(text, true);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(JSON.stringify({ engine: "llama.cpp", tokenizer: file, mb_per_s: +(Buffer.byteLength(text) / 1e6 / best).toFixed(2), tokens: toks.length }));
  await model.dispose();
}
