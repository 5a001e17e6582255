// A local file host standing in for Dropbox, FromSmash and SwissTransfer on the test network.
// Files are generated on the fly (deterministic bytes, any size, streamed with backpressure), so
// a 300 MB file costs no disk and no memory here.
import crypto from "node:crypto";

const BLOCK = crypto.createHash("sha512").update("facteur").digest(); // 64 bytes
const CHUNK = Buffer.alloc(1 << 20);
for (let i = 0; i < CHUNK.length; i += BLOCK.length) BLOCK.copy(CHUNK, i);

/** The bytes of a generated file of `size` bytes, as an async iterator of Buffers. */
function* chunks(size, zip) {
  let left = size;
  let first = true;
  while (left > 0) {
    const n = Math.min(left, CHUNK.length);
    let c = CHUNK.subarray(0, n);
    if (first && zip) {
      c = Buffer.from(c);
      c.write("PK\u0003\u0004", 0, "latin1");
    }
    first = false;
    left -= n;
    yield c;
  }
}

/** SHA-256 (hex) of the generated file of `size` bytes. */
export function expectedSha256(size, zip = false) {
  const h = crypto.createHash("sha256");
  for (const c of chunks(size, zip)) h.update(c);
  return h.digest("hex");
}

export const PROVIDER_HOSTS = [
  "www.dropbox.com",
  "dropbox.com",
  "fromsmash.com",
  "www.swisstransfer.com",
  "dl.dropboxusercontent.com",
  "www.dropbox.com.evil.test",
];

/**
 * Serves files on the provider hosts. `files` maps "host/path" (no query) to a spec:
 *   { size, chunked, zip, contentType, disposition, delayMs, status, redirect }
 */
export function startFileHost(network, hosts = PROVIDER_HOSTS) {
  const files = new Map();
  const hits = [];
  const handler = async (req, res) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    const path = req.url.split("?")[0];
    const spec = files.get(`${host}${path}`);
    hits.push({ host, url: req.url, at: Date.now() });
    if (!spec) {
      res.writeHead(404, { "Content-Type": "text/plain" });
      return res.end("not found");
    }
    if (spec.delayMs) await new Promise((r) => setTimeout(r, spec.delayMs));
    if (spec.redirect) {
      res.writeHead(302, { Location: spec.redirect });
      return res.end();
    }
    if (spec.status && spec.status !== 200) {
      res.writeHead(spec.status, { "Content-Type": "text/plain" });
      return res.end("error");
    }
    if (spec.html) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end("<html><body>Download page</body></html>");
    }
    const headers = { "Content-Type": spec.contentType ?? "application/octet-stream" };
    if (!spec.chunked) headers["Content-Length"] = String(spec.size);
    if (spec.disposition) headers["Content-Disposition"] = spec.disposition;
    res.writeHead(200, headers);
    for (const c of chunks(spec.size, spec.zip)) {
      if (res.destroyed) return;
      if (!res.write(c)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
  };
  for (const h of hosts) network.route(h, handler);
  return {
    hits,
    /** Serves `spec` at `url` (any query string is ignored). */
    serve(url, spec) {
      const u = new URL(url);
      files.set(`${u.hostname}${u.pathname}`, spec);
    },
  };
}
