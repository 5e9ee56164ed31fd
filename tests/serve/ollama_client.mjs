// Drives `slm serve` with the official `ollama` npm client (and raw node:http where the client
// cannot say it: bad JSON, Host headers, huge bodies). Expected values come from the fixtures
// (reference greedy ids, config.json, the files' sha256) or from `slm run` as a peer, never from
// what the server printed before.
// Usage: node ollama_client.mjs   with env SLM_BIN, SLM_FIXTURES, SLM_HOME (empty store), HF_ENDPOINT
// (tests/hubmock in mode ok), NPM_DIR (where `ollama` is installed), WORK (scratch folder).
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const require = createRequire(path.join(process.env.NPM_DIR, 'package.json'));
const { Ollama } = require('ollama');
const BIN = process.env.SLM_BIN, FX = process.env.SLM_FIXTURES, WORK = process.env.WORK;
const M = `${FX}/models`;
const L3 = `${M}/llama3-tiny/gguf/llama3-tiny-f16.gguf`;
const GG = `${M}/llama2-quant/gguf`;
const sanitized = process.env.SLM_SANITIZED === '1';

let fails = 0;
const ok = (what) => console.log(`ok: ${what}`);
const fail = (what) => { console.log(`FAIL: ${what}`); fails++; };
const check = (cond, what, detail = '') => (cond ? ok(what) : fail(`${what}${detail ? ': ' + detail : ''}`));
const sha256 = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function expectError(p, status, what) {
  try { await p; fail(`${what}: no error`); } catch (e) {
    check(e.status_code === status, what, `status ${e.status_code} (${e.message})`);
  }
}

// --- references ---------------------------------------------------------------------------
function slm(args, input) {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`slm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
// Text of the reference greedy continuation: decode(input + greedy) minus decode(input).
function refContinuation(modelDir, tokModel) {
  const d = JSON.parse(fs.readFileSync(`${modelDir}/reference/short.json`));
  const full = slm(['detokenize', tokModel], JSON.stringify([...d.input_ids, ...d.greedy.new_ids]));
  const pre = slm(['detokenize', tokModel], JSON.stringify(d.input_ids));
  if (!full.startsWith(pre)) throw new Error('prompt decoding is not a prefix');
  return { text: full.slice(pre.length), n: d.greedy.new_ids.length };
}

// --- servers ------------------------------------------------------------------------------
function startServer(args, name, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['serve', '--port', '0', '-t', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '', log = '';
    const timer = setTimeout(() => reject(new Error(`${name}: no 'listening on' within 60 s; log: ${log}`)), 60000);
    p.stderr.on('data', (d) => { log += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc: p, url: m[1], log: () => log }); }
    });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited ${code}: ${log}`)); });
  });
}
function stopServer(s, what) {
  return new Promise((resolve) => {
    s.proc.removeAllListeners('exit');
    const t = setTimeout(() => { fail(`${what}: no exit 10 s after SIGINT`); s.proc.kill('SIGKILL'); }, 10000);
    s.proc.on('exit', (code, sig) => {
      clearTimeout(t);
      check(code === 0, `${what} exits 0 on SIGINT`, `code ${code} signal ${sig}; log tail: ${s.log().slice(-3000)}`);
      resolve();
    });
    s.proc.kill('SIGINT');
  });
}
// A request the client library cannot make (raw body, Host header).
function rawRequest(url, { method = 'POST', path: p, body = '', headers = {} }) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: p, headers }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data, type: res.headers['content-type'] || '' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const srv = await startServer([L3], 'server');
const client = new Ollama({ host: srv.url });
try {
  check(new URL(srv.url).hostname === '127.0.0.1', 'binds 127.0.0.1 by default', srv.url);
  // --- version, ps, health -------------------------------------------------------------------
  const v = await client.version();
  check(typeof v.version === 'string' && v.version.length > 0, 'version', JSON.stringify(v));
  const ps = await client.ps();
  check(ps.models.length === 1 && ps.models[0].name === 'llama3-tiny-f16' && ps.models[0].details.family === 'llama',
    'ps lists the model loaded at start by its file stem', JSON.stringify(ps));
  const h = await rawRequest(srv.url, { method: 'GET', path: '/health' });
  check(h.status === 200 && JSON.parse(h.body).status === 'ok', 'health');

  // --- pull with progress, then list, show ---------------------------------------------------
  const F16 = `${GG}/llama2-quant-f16.gguf`, f16sha = sha256(F16), f16size = fs.statSync(F16).size;
  const pullName = 'hf.co/bartowski/Tiny-GGUF:F16';
  const events = [];
  for await (const e of await client.pull({ model: pullName, stream: true })) events.push(e);
  const st = events.map((e) => e.status);
  const dl = events.filter((e) => e.digest);
  check(st[0] === 'pulling manifest' && st.includes('verifying sha256 digest') && st.at(-2) === 'writing manifest' &&
    st.at(-1) === 'success', 'pull streams Ollama progress statuses', st.join(' | '));
  check(dl.length > 0 && dl.every((e) => e.digest === `sha256:${f16sha}` && e.total === f16size && e.completed <= e.total) &&
    dl.at(-1).completed === f16size && st.includes(`pulling ${f16sha.slice(0, 12)}`),
  'pull progress carries digest, total and completed', JSON.stringify(dl.slice(-2)));
  const list = await client.list();
  const tag = list.models.find((m) => m.name === pullName);
  check(tag && tag.digest === f16sha && tag.size === f16size && tag.details.format === 'gguf' &&
    tag.details.family === 'llama' && tag.details.quantization_level === 'F16' && /^\d{4}-\d\d-\d\dT/.test(tag.modified_at),
  'tags lists the pulled model (digest, size, details)', JSON.stringify(list));
  const q8 = await client.pull({ model: 'hf.co/bartowski/Tiny-GGUF:Q8_0', stream: false });
  check(q8.status === 'success', 'pull with stream:false gives one final object', JSON.stringify(q8));
  const cfg = JSON.parse(fs.readFileSync(`${M}/llama2-quant/config.json`));
  const show = await client.show({ model: pullName });
  const mi = show.model_info || {};
  check(mi['general.architecture'] === 'llama' && mi['llama.block_count'] === cfg.num_hidden_layers &&
    mi['llama.embedding_length'] === cfg.hidden_size && mi['llama.attention.head_count_kv'] === cfg.num_key_value_heads &&
    show.details.quantization_level === 'F16', 'show: model_info matches config.json', JSON.stringify(show).slice(0, 400));
  check(!(await client.ps()).models.some((m) => m.name === pullName), 'show does not keep the model loaded');
  await expectError(client.pull({ model: 'hf.co/bartowski/Missing-GGUF', stream: false }), 404, 'pull of a missing repo: 404');
  let streamErr = '';
  try { for await (const e of await client.pull({ model: 'hf.co/bartowski/Missing-GGUF', stream: true })) void e; } catch (e) { streamErr = e.message; }
  check(/not found/i.test(streamErr), 'pull error inside the stream is {"error": ...}', streamErr);

  // --- greedy generation equals the fixture reference ---------------------------------------
  const opts = (n) => ({ temperature: 0, num_predict: n });
  const r3 = refContinuation(`${M}/llama3-tiny`, L3);
  const g1 = await client.generate({ model: 'llama3-tiny-f16', prompt: '<|begin_of_text|>The quick brown fox jumps', raw: true, stream: false, options: opts(r3.n) });
  check(g1.response === r3.text && g1.done === true && g1.eval_count === r3.n && g1.done_reason === 'length',
    'generate raw greedy (llama3-tiny) = reference continuation', `${JSON.stringify(g1.response)} vs ${JSON.stringify(r3.text)}`);
  let s1 = '', last = null, chunks = 0;
  for await (const p of await client.generate({ model: 'llama3-tiny-f16', prompt: '<|begin_of_text|>The quick brown fox jumps', raw: true, stream: true, options: opts(r3.n) })) {
    s1 += p.response; last = p; chunks++;
  }
  check(s1 === r3.text && chunks > 2 && last.done && last.eval_count === r3.n, 'generate raw streamed = reference continuation', JSON.stringify(s1));
  const r2 = refContinuation(`${M}/llama2-quant`, F16);
  const g2 = await client.generate({ model: pullName, prompt: 'The quick brown fox', raw: true, stream: false, options: opts(r2.n) });
  check(g2.response === r2.text, 'generate on the pulled model (loaded on first use) = reference continuation',
    `${JSON.stringify(g2.response)} vs ${JSON.stringify(r2.text)}`);

  // --- chat / templated generate equal `slm run --temp 0` ------------------------------------
  for (const q of ['Name three primary colours.', 'Hello there']) {
    const want = slm(['run', L3, q, '--temp', '0', '-n', '12', '-t', '1']);
    const c1 = await client.chat({ model: 'llama3-tiny-f16', messages: [{ role: 'user', content: q }], stream: false, options: opts(12) });
    check(c1.message.role === 'assistant' && c1.message.content === want && c1.done, `chat greedy = slm run (${q})`,
      `${JSON.stringify(c1.message.content)} vs ${JSON.stringify(want)}`);
    let s2 = '';
    for await (const p of await client.chat({ model: 'llama3-tiny-f16', messages: [{ role: 'user', content: q }], stream: true, options: opts(12) })) s2 += p.message.content;
    check(s2 === want, `chat streamed greedy = slm run (${q})`, JSON.stringify(s2));
    const g3 = await client.generate({ model: 'llama3-tiny-f16', prompt: q, stream: false, options: opts(12) });
    check(g3.response === want, `generate (templated) greedy = slm run (${q})`, JSON.stringify(g3.response));
  }
  const sys = 'You are a concise assistant.';
  const wantSys = slm(['run', L3, 'Hi', '--system', sys, '--temp', '0', '-n', '8', '-t', '1']);
  const c3 = await client.chat({ model: 'llama3-tiny-f16', messages: [{ role: 'system', content: sys }, { role: 'user', content: 'Hi' }], options: opts(8) });
  check(c3.message.content === wantSys, 'chat with a system message = slm run --system', JSON.stringify(c3.message.content));
  // stop strings: the answer is the greedy answer cut before the stop string
  const full = g1.response, cut = full.indexOf(full.trim().split(/\s+/)[2]);
  if (cut > 0) {
    const st2 = await client.generate({ model: 'llama3-tiny-f16', prompt: '<|begin_of_text|>The quick brown fox jumps', raw: true, options: { ...opts(r3.n), stop: [full.trim().split(/\s+/)[2]] } });
    check(st2.response === full.slice(0, cut) && st2.done_reason === 'stop', 'options.stop cuts the answer', JSON.stringify(st2.response));
  }
  // two clients at once on one model: each gets its own correct answer (they take turns)
  const req = () => client.generate({ model: 'llama3-tiny-f16', prompt: '<|begin_of_text|>The quick brown fox jumps', raw: true, options: opts(r3.n) });
  const both = await Promise.all([req(), req()]);
  check(both.every((b) => b.response === r3.text), 'two concurrent requests both get the reference answer');
  const seeded = async () => (await client.generate({ model: 'llama3-tiny-f16', prompt: 'Hello', raw: true, options: { temperature: 1, top_k: 0, top_p: 1, min_p: 0, seed: 7, num_predict: 10 } })).response;
  check((await seeded()) === (await seeded()), 'same seed, same text');
  const fj = await client.generate({ model: 'llama3-tiny-f16', prompt: 'Give JSON', format: 'json', options: opts(24) });
  let parsed = false;
  try { JSON.parse(fj.response); parsed = true; } catch { /* checked below */ }
  check(parsed, 'format json gives valid JSON', JSON.stringify(fj.response));

  // --- copy / delete --------------------------------------------------------------------------
  await client.copy({ source: pullName, destination: 'mine/copy:v1' });
  let names = (await client.list()).models.map((m) => m.name);
  check(names.includes('mine/copy:v1') && names.includes(pullName), 'copy', names.join(','));
  await expectError(client.copy({ source: 'no/such:model', destination: 'x' }), 404, 'copy of a missing model: 404');
  await client.delete({ model: 'mine/copy:v1' });
  names = (await client.list()).models.map((m) => m.name);
  check(!names.includes('mine/copy:v1') && names.includes(pullName), 'delete', names.join(','));
  await expectError(client.delete({ model: 'mine/copy:v1' }), 404, 'delete of a missing model: 404');
  await client.delete({ model: pullName });
  await expectError(client.generate({ model: pullName, prompt: 'x', stream: false }), 404, 'a deleted model is gone (404)');
  check(!(await client.ps()).models.some((m) => m.name === pullName), 'a deleted model leaves ps');

  // --- errors -----------------------------------------------------------------------------
  await expectError(client.chat({ model: 'nosuch', messages: [{ role: 'user', content: 'hi' }] }), 404, 'unknown model: 404');
  await expectError(client.generate({ model: 'llama3-tiny-f16', prompt: 'x', options: { temperature: 'hot' } }), 400, 'wrong option type: 400');
  await expectError(client.chat({ model: 'llama3-tiny-f16', messages: 'hi' }), 400, 'messages not an array: 400');
  await expectError(client.chat({ model: 'llama3-tiny-f16', messages: [{ role: 'wizard', content: 'x' }] }), 400, 'bad role: 400');
  await expectError(client.generate({ model: 'llama3-tiny-f16', prompt: 42 }), 400, 'prompt not a string: 400');
  for (const [p, body, what] of [['/api/chat', '{"model": "llama3-tiny-f16", "messages": [', 'truncated JSON'],
    ['/api/generate', 'not json at all', 'not JSON'], ['/api/generate', '[1,2]', 'an array body'], ['/api/pull', '', 'empty body']]) {
    const r = await rawRequest(srv.url, { path: p, body });
    let e = null;
    try { e = JSON.parse(r.body).error; } catch { /* e stays null */ }
    check(r.status === 400 && typeof e === 'string' && r.type.includes('application/json'), `${what}: 400 with {"error"}`, `${r.status} ${r.body}`);
  }
  const before = fs.readdirSync(WORK).sort().join(',');
  for (const bad of ['../evil', '../../etc/passwd', '/etc/passwd', 'a/../../b', 'hf.co/../../x', '..', 'a//b', '.hidden']) {
    await expectError(client.pull({ model: bad, stream: false }), 400, `pull '${bad}' refused`);
    await expectError(client.delete({ model: bad }), 400, `delete '${bad}' refused`);
    await expectError(client.copy({ source: 'llama3-tiny-f16', destination: bad }), 400, `copy to '${bad}' refused`);
    try { await client.show({ model: bad }); fail(`show '${bad}' answered`); } catch (e) { check(e.status_code === 404 || e.status_code === 400, `show '${bad}' refused`); }
  }
  check(fs.readdirSync(WORK).sort().join(',') === before && fs.existsSync('/etc/passwd'), 'hostile names wrote nothing outside the store');
  const rb = await rawRequest(srv.url, { method: 'GET', path: '/api/tags', headers: { Host: 'evil.example.com' } });
  check(rb.status === 403, 'foreign Host header: 403 (DNS rebinding)', `${rb.status}`);
  const rl = await rawRequest(srv.url, { method: 'GET', path: '/api/tags', headers: { Host: `localhost:${new URL(srv.url).port}` } });
  check(rl.status === 200, 'Host: localhost accepted', `${rl.status}`);
  const big = await rawRequest(srv.url, { path: '/api/generate', body: '{"prompt":"' + 'a'.repeat(9 << 20) + '"}' }).catch((e) => ({ status: 'error ' + e.code }));
  check(big.status === 413 || big.status === 'error EPIPE' || big.status === 'error ECONNRESET', 'body over 8 MiB: 413', `${big.status}`);

  // --- a client that aborts mid-stream cancels its generation --------------------------------
  const it = await client.chat({ model: 'llama3-tiny-f16', messages: [{ role: 'user', content: 'Tell me a long story.' }], stream: true, options: { temperature: 0, num_predict: 100000 } });
  let got = 0;
  const t0 = Date.now();
  try { for await (const p of it) { void p; if (++got === 3) it.abort(); } } catch { /* AbortError expected */ }
  check(got >= 3, 'stream delivered chunks before the abort');
  let cancelled = false;
  for (let i = 0; i < 40 && !cancelled; i++) { await sleep(50); cancelled = /generation cancelled/.test(srv.log()); }
  check(cancelled, `server cancelled the generation within ${Date.now() - t0} ms of the abort`);
  const t1 = Date.now();
  const after = await client.generate({ model: 'llama3-tiny-f16', prompt: '<|begin_of_text|>The quick brown fox jumps', raw: true, options: opts(r3.n) });
  const dt = Date.now() - t1;
  check(after.response === r3.text && dt < (sanitized ? 20000 : 5000), `a new request after the abort succeeds (${dt} ms)`, JSON.stringify(after.response));
} catch (e) {
  fail(`unexpected: ${e.stack || e}`);
}
await stopServer(srv, 'server');

// --- API key ------------------------------------------------------------------------------
try {
  // also: a store name missing from the store is pulled at start (as `ollama serve` + run would)
  const khome = `${WORK}/home-key`;
  fs.mkdirSync(khome);
  const ks = await startServer(['--api-key', 's3cret', L3, 'hf.co/bartowski/Tiny-GGUF:Q4_0'], 'keyed server', { SLM_HOME: khome });
  const q4 = `${GG}/llama2-quant-Q4_0.gguf`;
  check(fs.existsSync(`${khome}/blobs/sha256-${sha256(q4)}`), 'serve pulls a missing store name at start');
  await expectError(new Ollama({ host: ks.url }).list(), 401, 'no key: 401');
  await expectError(new Ollama({ host: ks.url, headers: { Authorization: 'Bearer wrong' } }).list(), 401, 'wrong key: 401');
  await expectError(new Ollama({ host: ks.url }).chat({ model: 'llama3-tiny-f16', messages: [{ role: 'user', content: 'x' }] }), 401, 'no key on chat: 401');
  const r = await rawRequest(ks.url, { method: 'GET', path: '/health' });
  check(r.status === 401, 'no key on /health: 401', `${r.status}`);
  const kc = new Ollama({ host: ks.url, headers: { Authorization: 'Bearer s3cret' } });
  const kl = await kc.ps();
  check(kl.models.map((m) => m.name).sort().join() === 'hf.co/bartowski/Tiny-GGUF:Q4_0,llama3-tiny-f16', 'right key: accepted; both models loaded',
    JSON.stringify(kl));
  // SIGINT while a client is mid-stream: the generation is cancelled and the server still exits 0
  const live = await kc.chat({ model: 'llama3-tiny-f16', messages: [{ role: 'user', content: 'Go on.' }], stream: true, options: { num_predict: 100000 } });
  const reader = (async () => { let n = 0; try { for await (const p of live) { void p; n++; } } catch { /* cut by the shutdown */ } return n; })();
  await sleep(300);
  const t = Date.now();
  await stopServer(ks, 'keyed server (with a client mid-stream)');
  check((await reader) > 0 && Date.now() - t < 5000, `shutdown with a live stream took ${Date.now() - t} ms`);
} catch (e) {
  fail(`api key: ${e.stack || e}`);
}
// --- a pull whose client hangs up stops, keeps its partial file, writes no manifest ------------
try {
  const home = `${WORK}/home-abort`;
  fs.mkdirSync(home);
  const ps = await startServer([], 'pull server', { SLM_HOME: home, HF_ENDPOINT: process.env.HF_ENDPOINT.replace(/\/m\/ok$/, '/m/slow') });
  const pc = new Ollama({ host: ps.url });
  const it = await pc.pull({ model: 'hf.co/o/r:F16', stream: true });
  let seen = 0;
  try { for await (const e of it) { if (e.completed > 0 && ++seen === 2) it.abort(); } } catch { /* AbortError */ }
  let stopped = false;
  for (let i = 0; i < 40 && !stopped; i++) { await sleep(50); stopped = /pull hf.co\/o\/r:F16 failed: cancelled/.test(ps.log()); }
  check(stopped, 'an aborted pull stream cancels the download', ps.log().slice(-300));
  const blobs = fs.existsSync(`${home}/blobs`) ? fs.readdirSync(`${home}/blobs`) : [];
  check(blobs.some((f) => f.endsWith('.partial')) && (await pc.list()).models.length === 0,
    'it keeps a .partial for resuming and lists no model', blobs.join(','));
  await stopServer(ps, 'pull server');
} catch (e) {
  fail(`pull abort: ${e.stack || e}`);
}
console.log(fails ? `${fails} checks failed` : 'all checks passed');
process.exit(fails ? 1 : 0);
