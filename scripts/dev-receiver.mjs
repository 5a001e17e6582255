// A webhook receiver for local development (`make dev` starts it): records every request on
// 127.0.0.1:${RECEIVER_PORT:-8790} and shows them at http://127.0.0.1:8790/ (headers, body, and the
// Standard Webhooks signature checked against WEBHOOK_SIGNING_SECRET from .dev.vars).
// Only node built-ins; nothing leaves the machine. It answers loopback names only (a request
// whose Host is anything but 127.0.0.1, localhost or [::1] is refused: a web page that
// rebinds its own name to 127.0.0.1 cannot read what arrived), and caps bodies at MAX_BODY.
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PORT = Number(process.env.RECEIVER_PORT || 8790);
const KEEP = 100;
/** Largest body taken (a webhook carries an e-mail of at most 25 MB, escaped in JSON). */
const MAX_BODY = Number(process.env.RECEIVER_MAX_BODY || 64 * 1024 * 1024);
/** Body characters kept per request for the page (the newest KEEP requests are kept). */
const KEEP_BODY = 256 * 1024;
const received = [];

/** True for a Host header naming this machine's loopback (with or without the port). */
function loopbackHost(host) {
  const name = String(host ?? "")
    .trim()
    .toLowerCase()
    .replace(/:\d+$/, "");
  return ["127.0.0.1", "localhost", "[::1]"].includes(name);
}

/** WEBHOOK_SIGNING_SECRET from .dev.vars (read at each request, so an edit applies at once). */
function signingSecret() {
  try {
    const line = fs
      .readFileSync(path.join(ROOT, ".dev.vars"), "utf8")
      .split("\n")
      .find((l) => l.startsWith("WEBHOOK_SIGNING_SECRET="));
    return line?.slice("WEBHOOK_SIGNING_SECRET=".length).trim() || "";
  } catch {
    return "";
  }
}

/** The Standard Webhooks check: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
function checkSignature(headers, body) {
  const secret = signingSecret();
  const signature = headers["webhook-signature"];
  if (!secret)
    return signature
      ? "not checked (no WEBHOOK_SIGNING_SECRET in .dev.vars)"
      : "unsigned (no WEBHOOK_SIGNING_SECRET)";
  if (!signature) return "MISSING";
  const key = secret.startsWith("whsec_")
    ? Buffer.from(secret.slice(6), "base64")
    : Buffer.from(secret);
  const expected = crypto
    .createHmac("sha256", key)
    .update(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`)
    .digest("base64");
  return signature.split(" ").some((s) => s === `v1,${expected}`) ? "valid" : "INVALID";
}

const esc = (s) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );

function page() {
  const items = received
    .map((r) => {
      let pretty = r.body;
      try {
        pretty = JSON.stringify(JSON.parse(r.body), null, 2);
      } catch {
        /* not JSON */
      }
      const ok = r.signature === "valid";
      return `<article><h2>${esc(r.method)} ${esc(r.path)} <small>${esc(r.at)}</small> <span class="${ok ? "ok" : "ko"}">signature: ${esc(r.signature)}</span></h2>
<p>subject: <b>${esc(r.subject ?? "—")}</b> · delivery <code>${esc(r.headers["x-facteur-delivery-id"] ?? "—")}</code> · attempt ${esc(r.headers["x-facteur-attempt"] ?? "—")}</p>
<details><summary>Headers</summary><pre>${esc(
        Object.entries(r.headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join("\n"),
      )}</pre></details>
<details open><summary>Body</summary><pre>${esc(pretty)}</pre></details></article>`;
    })
    .join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="3"><title>Facteur dev receiver (${received.length})</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem;color:#1d2433;background:#f5f6f8}
article{background:#fff;border:1px solid #e2e5eb;border-radius:10px;padding:1rem 1.25rem;margin:1rem 0}h2{font-size:1rem;margin:0}
small{color:#5d6779;font-weight:400}pre{background:#f9fafb;border:1px solid #e2e5eb;border-radius:8px;padding:.75rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem}
.ok{color:#1d7a4c}.ko{color:#b42318}span{font-size:.85rem;margin-left:.5rem}</style></head><body>
<h1>Facteur dev receiver</h1><p>Webhooks sent to <code>http://127.0.0.1:${PORT}/…</code> appear here, newest first (the ${KEEP} last; the page refreshes every 3 s). <a href="/requests.json">JSON</a></p>
${items || "<p>Nothing received yet. Push the README's example e-mail, or use “Send a test e-mail” in the console.</p>"}</body></html>`;
}

const server = http.createServer((req, res) => {
  if (!loopbackHost(req.headers.host)) {
    // DNS rebinding: a page of another site, its name now pointing here.
    res.writeHead(403, { "Content-Type": "application/json", Connection: "close" });
    res.end('{"ok":false,"error":"this receiver answers loopback hosts only"}');
    req.destroy();
    return;
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  const tooLarge = () => {
    if (res.headersSent) return;
    res.writeHead(413, { "Content-Type": "application/json", Connection: "close" });
    res.end(`{"ok":false,"error":"body over ${MAX_BODY} bytes"}`);
    req.destroy();
  };
  if (declared > MAX_BODY) return tooLarge();
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size > MAX_BODY) return tooLarge();
    chunks.push(c);
  });
  req.on("end", () => {
    if (size > MAX_BODY) return;
    const full = Buffer.concat(chunks).toString("utf8");
    if (req.method === "GET" && req.url === "/") {
      res.writeHead(200, {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
      });
      return res.end(page());
    }
    if (req.method === "GET" && req.url === "/requests.json") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(JSON.stringify(received, null, 2));
    }
    let subject;
    try {
      subject = JSON.parse(full).subject;
    } catch {
      /* not JSON */
    }
    const body =
      full.length > KEEP_BODY
        ? `${full.slice(0, KEEP_BODY)}… (${full.length} characters, the rest not kept)`
        : full;
    const record = {
      at: new Date().toISOString(),
      method: req.method,
      path: req.url,
      headers: req.headers,
      body,
      subject,
      signature: checkSignature(req.headers, full),
    };
    received.unshift(record);
    received.length = Math.min(received.length, KEEP);
    console.log(
      `[receiver] ${record.method} ${record.path} ${subject ? `"${subject}" ` : ""}signature: ${record.signature}`,
    );
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"ok":true}');
  });
});
server.listen(PORT, "127.0.0.1", () =>
  console.log(`[receiver] listening on http://127.0.0.1:${PORT}/ (open it to see the webhooks)`),
);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
