// What a guessing flood costs the real operator (issue 19, docs/security.md): the worker in
// local workerd (Miniflare API), the operator signed in from its own address, probing the
// console (a cookie request: GET /api/session, which asks the guard whether the session is open)
// and the admin API (GET /api/runtime with the bearer token) one request after another, first
// on a quiet worker, then during 3,000 bad sign-ins:
//   one      all 3,000 at once from one client address
//   many     all 3,000 at once, from 3,000 client addresses (one each)
//   steady   3,000 from one address, 50 in flight at a time (a sustained flood)
// Prints the operator's latency (p50, p99, max) quiet and during each flood, how the flood was
// answered (401 / 429), how long it took, and the audit's summary of the burst.
// Usage: node bench/guessing.mjs [flood=3000] [probes-when-quiet=200]
// (To compare with another commit, copy this file into a checkout of it, build it, and run it
// there: it uses that checkout's harness and build.)
import http from "node:http";
import { startWorker, ADMIN_TOKEN } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";

const FLOOD = Number(process.argv[2] ?? 3000);
const QUIET_PROBES = Number(process.argv[3] ?? 200);
const OPERATOR = "192.0.2.1";

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const fmt = (xs) =>
  xs.length
    ? `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} probes)`
    : "no probe answered";

const net = await startNetwork();

/** A fresh worker, the operator signed in: { w, probe } (each flood gets its own worker). */
async function fresh() {
  const w = await startWorker({
    network: net,
    vars: { WEBHOOK_URL: "https://hooks.receiver.test/guessing", AUTH_BURST_QUIET_SECS: "2" },
  });
  /** One request on a fresh connection; resolves { status, ms, headers }. */
  const send = (pathname, { method = "GET", headers = {}, body } = {}) => {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(w.url + pathname, { method, headers, agent: false }, (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            ms: performance.now() - started,
            headers: res.headers,
          }),
        );
      });
      req.on("error", reject);
      req.end(body);
    });
  };
  const signIn = (ip, password) =>
    send("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip, Origin: w.url },
      body: JSON.stringify({ password }),
    });
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
  /** Probes both, alternately, while `until()` is false (or `n` times each); a probe that
   * fails (an answer other than 200, a connection reset) is counted in `failed`. */
  async function probe({ n = Infinity, until = () => false } = {}) {
    const out = { console: [], bearer: [], failed: [] };
    for (let i = 0; i < n && !until(); i++) {
      for (const [name, p] of Object.entries(probes)) {
        const r = await p().catch((e) => ({ status: e.code ?? "error" }));
        if (r.status === 200) out[name].push(r.ms);
        else out.failed.push(`${name} ${r.status}`);
      }
    }
    return out;
  }
  await probe({ n: 20 }); // warm up
  return { w, probe, signIn };
}

const running = [];
try {
  console.log(
    `${FLOOD} bad sign-ins per flood, each on a fresh worker; the operator probes one request at a time`,
  );
  {
    const { w, probe } = await fresh();
    running.push(w);
    const quiet = await probe({ n: QUIET_PROBES });
    console.log(`quiet       console (cookie) ${fmt(quiet.console)}`);
    console.log(`            admin API (bearer) ${fmt(quiet.bearer)}`);
    await w.stop();
    running.pop();
  }
  for (const [name, address, inFlight] of [
    ["one", () => "203.0.113.66", FLOOD],
    ["many", (i) => `198.18.${(i >> 8) & 255}.${i & 255}`, FLOOD],
    ["steady", () => "203.0.113.77", 50],
  ]) {
    const { w, probe, signIn } = await fresh();
    running.push(w);
    let done = false;
    const statuses = new Map();
    const count = (k) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
    const started = performance.now();
    let next = 0;
    const sender = async () => {
      while (next < FLOOD) {
        const i = next++;
        await signIn(address(i), `guess-${i}`).then(
          (r) => count(r.status),
          (e) => count(e.code ?? "error"),
        );
      }
    };
    const flood = Promise.all(Array.from({ length: inFlight }, sender)).then(() => {
      done = true;
    });
    const during = await probe({ until: () => done });
    await flood;
    const took = (performance.now() - started) / 1000;
    const answered = [...statuses]
      .sort()
      .map(([s, n]) => `${s}×${n}`)
      .join(" ");
    const how = inFlight >= FLOOD ? "all at once" : `${inFlight} in flight`;
    console.log(
      `${name.padEnd(11)} ${how}: answered in ${took.toFixed(1)} s (${(FLOOD / took).toFixed(0)}/s): ${answered}`,
    );
    console.log(`            console (cookie) ${fmt(during.console)}`);
    console.log(`            admin API (bearer) ${fmt(during.bearer)}`);
    if (during.failed.length)
      console.log(`            the operator's probes that failed: ${during.failed.join(", ")}`);
    // The burst's summaries: one audit entry a burst, written 2 quiet seconds after it (the
    // limiter refuses most of a flood before the guard sees it, so a flood can be several
    // bursts here; 10 quiet minutes make it one by default).
    await new Promise((r) => setTimeout(r, 4_000));
    const r = await fetch(`${w.url}/api/audit?action=failed_attempts&limit=1000`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "CF-Connecting-IP": OPERATOR },
    });
    const entries = r.ok ? ((await r.json()).entries ?? []) : [];
    if (entries.length) {
      const sum = (k) => entries.reduce((n, e) => n + e.details[k], 0);
      const flood = entries.some((e) => e.details.flood);
      console.log(
        `            audit: ${entries.length} ${entries.length === 1 ? "entry" : "entries"} (not one per guess): ${sum("failures")} wrong passwords counted by the guard, ${sum("refused")} refused (429, those the platform's limiter refused counted approximately)${flood ? ", global budget spent (credential_flood alert)" : ""}`,
      );
    } else console.log("            audit: no summary of the burst (this build does not make one)");
    await w.stop();
    running.pop();
  }
} finally {
  for (const w of running) await w.stop();
  await net.stop();
}
