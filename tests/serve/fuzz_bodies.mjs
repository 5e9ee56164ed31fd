// A bounded, seeded fuzz of `slm serve` requests: valid Ollama request bodies with values swapped
// for other JSON types, extreme numbers, deep nesting, random bytes, and odd methods/paths/headers.
// Every answer must be an HTTP status in 2xx/4xx/5xx with a JSON body for the API paths (NDJSON
// for streams), the server must stay up, and it must exit 0 on SIGINT (no ASan/UBSan report).
// Env: SLM_BIN, SLM_FIXTURES, SLM_HOME (scratch), FUZZ_N (requests, default 400).
import { spawn } from 'node:child_process';
import http from 'node:http';

const BIN = process.env.SLM_BIN, M = `${process.env.SLM_FIXTURES}/models`;
const N = Number(process.env.FUZZ_N || 400);
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
const pick = (a) => a[Math.floor(rnd() * a.length)];

const proc = spawn(BIN, ['serve', '--port', '0', '-t', '1', '--ctx', '64', `${M}/llama3-tiny/gguf/llama3-tiny-f16.gguf`],
  { stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
proc.stderr.on('data', (d) => { log += d; });
const url = await new Promise((resolve, reject) => {
  let out = '';
  proc.stdout.on('data', (d) => { out += d; const m = /listening on (http:\/\/\S+)/.exec(out); if (m) resolve(new URL(m[1])); });
  proc.on('exit', (c) => reject(new Error(`serve exited ${c}: ${log}`)));
});

const model = 'llama3-tiny-f16';
const bases = {
  '/api/generate': { model, prompt: 'Hi', raw: true, stream: false, options: { temperature: 0, num_predict: 3, stop: ['x'], seed: 1 } },
  '/api/chat': { model, messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'Hi' }], stream: true, format: 'json', options: { num_predict: 3, top_k: 5, top_p: 0.5 } },
  '/api/show': { model },
  '/api/pull': { model: 'hf.co/a/b:Q4_0', stream: false },
  '/api/copy': { source: model, destination: 'x/y:z' },
  '/api/delete': { model: 'x/y:z' },
};
const weird = () => pick([null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, '', 'a'.repeat(rnd() * 5000 | 0),
  '../../etc/passwd', '\u0000', '<|im_start|>', [], [1, 'a', null], {}, { a: { b: { c: [] } } }, 'json', -2, 4096, 1e9]);
function mutate(v, depth = 0) {
  if (rnd() < 0.15) return weird();
  if (Array.isArray(v)) { const a = v.map((x) => mutate(x, depth + 1)); if (rnd() < 0.2) a.push(weird()); return a; }
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) if (rnd() > 0.1) o[k] = mutate(x, depth + 1);
    if (rnd() < 0.2) o[pick(['images', 'tools', 'template', 'suffix', 'keep_alive', 'context', 'raw', 'stream', 'format', 'options'])] = weird();
    return o;
  }
  return v;
}
function body(path) {
  const r = rnd();
  if (r < 0.08) return Buffer.from(Array.from({ length: rnd() * 200 | 0 }, () => rnd() * 256 | 0));
  if (r < 0.12) return '['.repeat(5000) + ']'.repeat(5000);
  if (r < 0.16) return '{"model":' + '{"a":'.repeat(3000) + '1' + '}'.repeat(3000) + '}';
  const s = JSON.stringify(mutate(bases[path]));
  if (r < 0.25) return s.slice(0, rnd() * s.length | 0); // truncated
  return s;
}
function send(method, path, data, headers = {}) {
  // node frames GET/DELETE bodies only with an explicit Content-Length
  headers = { ...headers, 'Content-Length': Buffer.byteLength(data) };
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, timeout: 60000 }, (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: d, type: res.headers['content-type'] || '' }));
      res.on('error', () => resolve({ status: -1, body: '' }));
    });
    req.on('error', (e) => resolve({ status: -1, body: String(e) }));
    req.on('timeout', () => { req.destroy(); resolve({ status: -2, body: 'timeout' }); });
    req.end(data);
  });
}

let bad = 0, prev = '';
const hist = {};
const paths = Object.keys(bases);
for (let i = 0; i < N; i++) {
  const path = rnd() < 0.05 ? pick(['/api/x', '/', '/api/tags?x=1', '/%00', '/api/generate/../tags', '/' + 'a'.repeat(3000)]) : pick(paths);
  const method = rnd() < 0.05 ? pick(['GET', 'PUT', 'PATCH', 'OPTIONS']) : path === '/api/delete' ? 'DELETE' : 'POST';
  const headers = rnd() < 0.05 ? { Authorization: 'Bearer ' + 'x'.repeat(rnd() * 1000 | 0), 'Content-Type': 'text/plain' } : {};
  const data = bases[path] ? body(path) : '';
  const r = await send(method, path, data, headers);
  hist[r.status] = (hist[r.status] || 0) + 1;
  if (r.status >= 500) hist[`${r.status} ${path}`] = (hist[`${r.status} ${path}`] || 0) + 1;
  const cur = `${method} ${path.slice(0, 40)} -> ${r.status} ${JSON.stringify(String(data).slice(0, 80))} ${String(data).length}`;
  let okShape = r.status >= 200 && r.status < 600;
  if (okShape && r.type.includes('json')) {
    const lines = r.type.includes('ndjson') ? r.body.split('\n').filter(Boolean) : [r.body];
    try { lines.forEach((l) => JSON.parse(l)); } catch { okShape = false; }
  }
  if (!okShape) { console.log('previous: ' + prev); bad++; console.log(`FAIL: ${method} ${path.slice(0, 40)} -> ${r.status} ${r.body.slice(0, 200)} (request: ${JSON.stringify(headers).slice(0, 60)} ${String(data).length} bytes: ${JSON.stringify(String(data).slice(0, 120))})`); }
  prev = cur;
}
const alive = await send('GET', '/health', '');
if (alive.status !== 200) { bad++; console.log('FAIL: server not healthy after the fuzz'); }
const code = await new Promise((resolve) => { proc.removeAllListeners('exit'); proc.on('exit', (c) => resolve(c)); proc.kill('SIGINT'); });
if (code !== 0) { bad++; console.log(`FAIL: serve exited ${code} after SIGINT; log tail:\n${log.slice(-4000)}`); }
console.log(`statuses: ${JSON.stringify(hist)}`);
console.log(bad ? `${bad} problems in ${N} requests` : `ok: ${N} fuzzed requests answered well-formed, server alive, clean exit`);
process.exit(bad ? 1 : 0);
