// What a guessing flood costs the real operator (issue 19, docs/security.md): the worker in
// local workerd (Miniflare API), the operator signed in from its own address, probing the
// console (a cookie request: GET /api/session, which asks the guard whether the session is open)
// and the admin API (GET /api/runtime with the bearer token) one request after another, first
// on a quiet worker, then while 3,000 bad sign-ins arrive at once:
//   one      all 3,000 from one client address
//   many     3,000 client addresses, one bad sign-in each
// Prints the operator's latency (p50, p99, max) quiet and during each flood, how the flood was
// answered (401 / 429), how long it took, and the audit's summary of the burst.
// Usage: node bench/guessing.mjs [flood=3000] [probes-when-quiet=200]
// (To compare with another commit, copy this file into a checkout of it, build it, and run it
// there: it uses that checkout's harness and build.)
import http from "node:http";
import { startWorker, ADMIN_TOKEN } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";
import { eventually } from "../tests/harness/ports.mjs";

const FLOOD = Number(process.argv[2] ?? 3000);
const QUIET_PROBES = Number(process.argv[3] ?? 200);
const OPERATOR = "192.0.2.1";

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const fmt = (xs) =>
  `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} probes)`;

const net = await startNetwork();
const w = await startWorker({
  network: net,
  vars: { WEBHOOK_URL: "https://hooks.receiver.test/guessing", AUTH_BURST_QUIET_SECS: "2" },
});

/** One request on a fresh connection; resolves { status, ms, headers }. */
function send(pathname, { method = "GET", headers = {}, body } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(w.url + pathname, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({ status: res.statusCode, ms: performance.now() - started, headers: res.headers }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

const signIn = (ip, password) =>
  send("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip, Origin: w.url },
    body: JSON.stringify({ password }),
  });

try {
  const opened = await signIn(OPERATOR, ADMIN_TOKEN);
  if (opened.status !== 200) throw new Error(`sign-in answered ${opened.status}`);
  const cookie = [opened.headers["set-cookie"]].flat()[0].split(";")[0];
  const probes = {
    console: () =>
      send("/api/session", { headers: { Cookie: cookie, "CF-Connecting-IP": OPERATOR } }),
    bearer: () =>
      send("/api/runtime", {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "CF-Connecting-IP": OPERATOR },
      }),
  };
  /** Probes both, alternately, while `until()` is false (or `n` times each). */
  async function probe({ n = Infinity, until = () => false } = {}) {
    const out = { console: [], bearer: [] };
    for (let i = 0; i < n && !until(); i++) {
      for (const [name, p] of Object.entries(probes)) {
        const r = await p();
        if (r.status !== 200) throw new Error(`${name} probe answered ${r.status}`);
        out[name].push(r.ms);
      }
    }
    return out;
  }
  // Warm up, then quiet.
  await probe({ n: 20 });
  const quiet = await probe({ n: QUIET_PROBES });
  console.log(
    `flood of ${FLOOD} concurrent bad sign-ins; the operator probes one request at a time`,
  );
  console.log(`quiet       console (cookie) ${fmt(quiet.console)}`);
  console.log(`            admin API (bearer) ${fmt(quiet.bearer)}`);

  for (const [name, address] of [
    ["one", () => "203.0.113.66"],
    ["many", (i) => `198.18.${(i >> 8) & 255}.${i & 255}`],
  ]) {
    let done = false;
    const statuses = new Map();
    const started = performance.now();
    const flood = Promise.all(
      Array.from({ length: FLOOD }, (_, i) =>
        signIn(address(i), `guess-${i}`).then(
          (r) => statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1),
          (e) => statuses.set(e.code ?? "error", (statuses.get(e.code ?? "error") ?? 0) + 1),
        ),
      ),
    ).then(() => {
      done = true;
    });
    const during = await probe({ until: () => done });
    await flood;
    const took = (performance.now() - started) / 1000;
    const answered = [...statuses]
      .sort()
      .map(([s, n]) => `${s}×${n}`)
      .join(" ");
    console.log(
      `${name.padEnd(11)} flood answered in ${took.toFixed(1)} s (${(FLOOD / took).toFixed(0)}/s): ${answered}`,
    );
    console.log(`            console (cookie) ${fmt(during.console)}`);
    console.log(`            admin API (bearer) ${fmt(during.bearer)}`);
    // The burst's summary: one audit entry once 2 quiet seconds have passed.
    const since = Date.now() - took * 1000 - 5_000;
    const summary = await eventually(
      async () => {
        const r = await fetch(`${w.url}/api/audit?action=failed_attempts&limit=1`, {
          headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "CF-Connecting-IP": OPERATOR },
        });
        const [e] = r.ok ? ((await r.json()).entries ?? []) : [];
        return e && Date.parse(e.details.to) >= since ? e : null;
      },
      { what: "the burst's audit summary", timeoutMs: 30_000 },
    ).catch(() => null);
    if (summary) {
      const d = summary.details;
      console.log(
        `            audit: one entry, ${d.failures} wrong passwords counted by the guard, ${d.refused} refused (429), ${d.clients} clients${d.flood ? ", global budget spent (credential_flood alert)" : ""}`,
      );
    } else console.log("            audit: no summary of the burst (this build does not make one)");
    await new Promise((r) => setTimeout(r, 3_000));
  }
} finally {
  await w.stop();
  await net.stop();
}
