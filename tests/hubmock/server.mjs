// A tiny imitation of the Hugging Face Hub for `slm pull` tests. Serves the fixture GGUFs of
// ../shared/fixtures/models/llama2-quant/gguf under Hub-like URLs:
//   GET  {base}/api/models/OWNER/REPO/tree/main      file listing with lfs.oid (sha256) and size
//   HEAD|GET {base}/OWNER/REPO/resolve/main/FILE     302 to {base}/cdn/FILE with X-Linked-Etag/-Size
//   GET  {base}/cdn/FILE                             the bytes, with Range support
// where {base} is http://127.0.0.1:PORT/m/MODE and MODE picks a misbehaviour per test:
//   ok, badsha (listing names a wrong sha256), cut (first full GET is cut mid-file), lielen
//   (Content-Length larger than the file), big (listing understates the size), bigchunk (same,
//   chunked without a Content-Length), xhost (redirect
//   to another host name), slow (throttled, for kill/concurrency tests), flaky (first CDN GET -> 503),
//   evil (listing holds traversal paths only).
// GET /stats returns what was requested (Range starts, CDN GETs, the Authorization header of the
// last listing); /stats?reset=1 clears it.
// Usage: node server.mjs PORT_FILE   (listens on an ephemeral port and writes it to PORT_FILE)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const fixtures = process.env.SLM_FIXTURES || path.resolve(import.meta.dirname, '../../../shared/fixtures');
const dir = path.join(fixtures, 'models/llama2-quant/gguf');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort();
const shaCache = new Map();
function sha(f) {
  if (!shaCache.has(f)) shaCache.set(f, crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex'));
  return shaCache.get(f);
}
let stats = { cdnGets: 0, rangeStarts: [], heads: 0 };
let flakyDone = false;
let cutDone = new Set();

function listing(mode) {
  if (mode === 'evil') return [{ type: 'file', path: '../../evil-Q4_K_M.gguf', size: 10, lfs: { oid: 'a'.repeat(64), size: 10 } }];
  const out = [{ type: 'file', path: 'README.md', size: 12, oid: '0'.repeat(40) }];
  for (const f of files) {
    const size = fs.statSync(path.join(dir, f)).size;
    let oid = sha(f);
    if (mode === 'badsha') oid = crypto.createHash('sha256').update('not ' + f).digest('hex');
    const lsize = mode === 'big' || mode === 'bigchunk' ? size - 1000 : size;
    out.push({ type: 'file', oid: '1'.repeat(40), size: lsize, path: f, lfs: { oid, size: lsize, pointerSize: 134 } });
  }
  return out;
}

function serveFile(req, res, mode, f, port) {
  const full = path.join(dir, f);
  const size = fs.statSync(full).size;
  stats.cdnGets++;
  if (mode === 'flaky' && !flakyDone) { flakyDone = true; res.writeHead(503); res.end('busy'); return; }
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
  if (m) start = Number(m[1]);
  stats.rangeStarts.push(start);
  if (start >= size) { res.writeHead(416, { 'Content-Range': `bytes */${size}` }); res.end(); return; }
  const headers = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"${sha(f)}"` };
  let len = size - start;
  if (mode !== 'bigchunk') headers['Content-Length'] = String(mode === 'lielen' ? len + 1000 : len);
  if (m) headers['Content-Range'] = `bytes ${start}-${size - 1}/${size}`;
  res.writeHead(m ? 206 : 200, headers);
  // Chunks of 64 KiB, read by hand so that 'slow' can pace them and 'cut' can stop mid-file.
  const fd = fs.openSync(full, 'r');
  const cut = mode === 'cut' && start === 0 && !cutDone.has(f);
  let pos = start, closed = false;
  res.on('close', () => { closed = true; });
  const pump = () => {
    while (!closed && pos < size) {
      if (cut && pos - start > size / 2) { cutDone.add(f); closed = true; fs.closeSync(fd); res.socket.destroy(); return; }
      const buf = Buffer.alloc(Math.min(65536, size - pos));
      fs.readSync(fd, buf, 0, buf.length, pos);
      pos += buf.length;
      const more = res.write(buf);
      if (mode === 'slow') { setTimeout(pump, 25); return; }
      if (!more) { res.once('drain', pump); return; }
    }
    if (!closed) { closed = true; fs.closeSync(fd); res.end(); }
    else if (pos < size) { try { fs.closeSync(fd); } catch { /* closed already */ } }
  };
  pump();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const port = server.address().port;
  if (url.pathname === '/stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(stats));
    if (url.searchParams.get('reset')) { stats = { cdnGets: 0, rangeStarts: [], heads: 0 }; flakyDone = false; cutDone = new Set(); }
    return;
  }
  const mm = /^\/m\/([a-z]+)(\/.*)$/.exec(url.pathname);
  if (!mm) { res.writeHead(404); res.end('no mode'); return; }
  const [, mode, rest] = mm;
  let p;
  if ((p = /^\/api\/models\/([\w.-]+)\/([\w.-]+)\/tree\/main$/.exec(rest))) {
    if (p[2].includes('Missing')) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end('{"error":"Repository not found"}'); return; }
    stats.auth = req.headers.authorization || '';
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(listing(mode)));
    return;
  }
  if ((p = /^\/([\w.-]+)\/([\w.-]+)\/resolve\/main\/([\w.-]+)$/.exec(rest))) {
    const f = p[3];
    if (!files.includes(f)) { res.writeHead(404); res.end('Entry not found'); return; }
    stats.heads += req.method === 'HEAD' ? 1 : 0;
    const host = mode === 'xhost' ? `localhost:${port}` : `127.0.0.1:${port}`;
    const lsize = fs.statSync(path.join(dir, f)).size - (mode === 'big' || mode === 'bigchunk' ? 1000 : 0);
    const etag = mode === 'badsha' ? crypto.createHash('sha256').update('not ' + f).digest('hex') : sha(f);
    res.writeHead(302, {
      Location: mode === 'xhost' ? `http://${host}/m/ok/cdn/${f}` : `/m/${mode}/cdn/${f}`,
      'X-Linked-Etag': `"${etag}"`, 'X-Linked-Size': String(lsize), ETag: `"${'1'.repeat(40)}"`,
    });
    res.end();
    return;
  }
  if ((p = /^\/cdn\/([\w.-]+)$/.exec(rest)) && files.includes(p[1])) {
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Length': String(fs.statSync(path.join(dir, p[1])).size), 'Accept-Ranges': 'bytes' });
      res.end();
      return;
    }
    serveFile(req, res, mode, p[1], port);
    return;
  }
  res.writeHead(404); res.end('not found');
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(process.argv[2], String(server.address().port));
});
