// Differential fuzzing of `slm tokenize` / `slm detokenize` against Hugging Face `tokenizers`
// (Rust, through the @anush008/tokenizers npm bindings) on seeded random Unicode strings.
// usage: node test_tok_diff.cjs NPM_DIR SLM_BIN TOKENIZER_JSON N SEED [SLM_MODEL]
// SLM_MODEL (default TOKENIZER_JSON) is what slm loads, e.g. a GGUF made from the same tokenizer.
// Exit 0 when every string gives identical ids (with and without add_special) and identical
// decoded text; 1 otherwise (the first mismatches are printed).
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');

const [npmDir, slmBin, tokJson, nStr, seedStr, slmModelArg] = process.argv.slice(2);
const slmModel = slmModelArg || tokJson;
const { Tokenizer } = require(path.resolve(npmDir, 'node_modules/@anush008/tokenizers'));
const N = parseInt(nStr || '1000', 10);
let seed = parseInt(seedStr || '1', 10) >>> 0;

// mulberry32: small deterministic PRNG
function rnd() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const range = (lo, hi) => String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));

const words = ['the', 'The', 'HELLO', 'world', "it's", "I'LL", "we'd", "'s", "'ve", 'naïve', 'café', 'über',
  'Straße', 'żółć', 'Ελλάδα', 'Москва', 'مرحبا', 'שלום', 'नमस्ते', 'สวัสดี', '你好', '世界', 'こんにちは',
  'カタカナ', '안녕하세요', 'def', 'return', 'int main()', '{"a": 1}', 'http://x.org/a?b=c', 'a@b.com',
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<s>', '</s>', '<bos>', '<start_of_turn>', '<unused7>',
  '<|begin_of_text|>', '<|eot_id|>', '<think>', '<0x41>', '▁', '▁▁x', 'ﬁ', 'Ａｂｃ', '𝔘𝔫𝔦', '😀', '👍🏽',
  '👨‍👩‍👧', '🇩🇪', '1️⃣', 'e\u0301', 'n\u0303', '\u200b', '\u200d', '\ufeff', '\ufffd', '\u202e'];
const spaces = [' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', ' \n', '\u00a0', '\u3000', '\u2028', '\u0085',
  '\u2003', '\u000b', '\u000c', '\r'];
const puncts = ['.', ',', '!', '?', '...', '--', '->', '::', '()', '[]', '{', '}', '"', "'", '`', '#', '$', '%',
  '&&', '||', '/*', '*/', '\\', '|', '~', '^', '@', '=', '==', '!=', '<', '>', '«', '»', '¿', '¡', '。', '、', '…'];
const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x2190, 0x2bff], [0x3040, 0x30ff],
  [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1d400, 0x1d7ff], [0x1f300, 0x1faff], [0x10330, 0x1034a],
  [0x1, 0x1f], [0x80, 0x9f], [0xe000, 0xe0ff], [0x20000, 0x2a6df], [0xf0000, 0xf00ff]];

function randomPiece() {
  const r = rnd();
  if (r < 0.3) return pick(words);
  if (r < 0.45) return pick(spaces);
  if (r < 0.55) return pick(puncts);
  if (r < 0.65) return String(Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 12))));
  const b = pick(blocks);
  let s = '';
  const k = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < k; i++) s += range(b[0], b[1]);
  return s;
}

function randomString() {
  const n = Math.floor(rnd() * 24);
  let s = '';
  for (let i = 0; i < n; i++) s += randomPiece();
  return s;
}

const texts = [];
for (let i = 0; i < N; i++) texts.push(randomString());

function runSlm(args, input) {
  const r = spawnSync(slmBin, args, { input, maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    console.error(`slm ${args.join(' ')} failed: ${r.stderr}`);
    process.exit(1);
  }
  return r.stdout.toString('utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
}

(async () => {
  const tok = Tokenizer.fromFile(tokJson);
  const input = texts.map((t) => JSON.stringify(t)).join('\n') + '\n';
  let fails = 0;
  for (const addSpecial of [false, true]) {
    const ref = (await tok.encodeBatch(texts, { addSpecialTokens: addSpecial })).map((e) => Array.from(e.getIds()));
    const got = runSlm(['tokenize', slmModel, '--jsonl'].concat(addSpecial ? ['--add-special'] : []), input);
    const refDec = await tok.decodeBatch(ref, false);
    const gotDec = runSlm(['detokenize', slmModel, '--jsonl'], ref.map((r) => JSON.stringify(r)).join('\n') + '\n');
    for (let i = 0; i < N; i++) {
      const a = JSON.stringify(ref[i]), b = JSON.stringify(got[i]);
      if (a !== b || refDec[i] !== gotDec[i]) {
        if (fails < 8) {
          console.log(`MISMATCH add_special=${addSpecial} text=${JSON.stringify(texts[i])}`);
          if (a !== b) console.log(`  ref ${a}\n  got ${b}`);
          else console.log(`  decode ref ${JSON.stringify(refDec[i])}\n  decode got ${JSON.stringify(gotDec[i])}`);
        }
        fails++;
      }
    }
  }
  // One long text (all strings joined): exercises slm's per-call word cache and word cutting.
  const big = texts.join('\n');
  const refBig = Array.from((await tok.encode(big, null, { addSpecialTokens: false })).getIds());
  const gotBig = runSlm(['tokenize', slmModel, '--jsonl'], JSON.stringify(big) + '\n')[0];
  if (JSON.stringify(refBig) !== JSON.stringify(gotBig)) {
    console.log(`MISMATCH on the joined text (${Buffer.byteLength(big)} bytes)`);
    fails++;
  }
  console.log(`${path.basename(path.dirname(tokJson))} vs slm ${path.basename(slmModel)}: ${N} strings x 2 modes + joined, ${fails} mismatches`);
  process.exit(fails ? 1 : 0);
})();
