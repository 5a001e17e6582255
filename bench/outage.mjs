// Receivers down for minutes, at the defaults of wrangler.toml (retries 3 from 5 s, probes from
// 30 s doubling to 2 min), in local workerd with a real receiver on the loopback test network
// that drops every connection while it is "down". Each scenario runs in its own worker, all at
// once; each prints what was delivered after the receiver came back, whether in acceptance order
// per target, duplicates, dead letters, and when the first and last webhooks arrived.
//
//   trickle-2min     one e-mail a second for a minute, receiver down 2 minutes
//   trickle-7min     one e-mail a second for a minute, receiver down 7 minutes
//   sparse-7min      one e-mail every 2 minutes for 12 minutes, receiver down 7 minutes
//   burst-10min      300 e-mails at once, receiver down 10 minutes
//   two-targets      one e-mail a second for a minute to two targets, one down 2 minutes:
//                    the healthy target's latency meanwhile
//
// Usage: node bench/outage.mjs [scenario ...]   (all of them by default: about 13 minutes)
// Then it prints what an outage of 1 minute, 10 minutes, 6 hours and 3 days costs, from the
// same defaults.
import crypto from "node:crypto";
import { startWorker, email, wranglerConfig } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";
import { startReceiver } from "../tests/harness/receiver.mjs";
import { eventually, sleep } from "../tests/harness/ports.mjs";

const DOWN = "https://hooks.receiver.test/down";
const HEALTHY = "https://hooks.receiver.test/healthy";
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

const SCENARIOS = {
  "trickle-2min": { every: 1_000, count: 60, downAt: 2_000, downFor: 120_000 },
  "trickle-7min": { every: 1_000, count: 60, downAt: 2_000, downFor: 420_000 },
  "sparse-7min": { every: 120_000, count: 7, downAt: 60_000, downFor: 420_000 },
  "burst-10min": { burst: 300, burstAt: 30_000, downAt: 0, downFor: 600_000 },
  "two-targets": { every: 1_000, count: 60, downAt: 2_000, downFor: 120_000, twoTargets: true },
};

async function run(name, s) {
  const net = await startNetwork();
  const rec = startReceiver(net);
  const t0 = Date.now();
  const down = () => {
    const t = Date.now() - t0;
    return t >= s.downAt && t < s.downAt + s.downFor;
  };
  rec.setPlan((r) => (r.path === "/down" && down() ? { drop: true } : { status: 200 }));
  const w = await startWorker({
    network: net,
    vars: { WEBHOOK_URL: DOWN, ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true" },
  });
  try {
    if (s.twoTargets) {
      const rules = {
        rules: [
          {
            id: "copy",
            name: "copy to a healthy receiver",
            conditions: [{ field: "sender", operator: "contains", value: "@" }],
            actions: { webhook_url: HEALTHY, priority: "normal", stop_processing: false },
          },
        ],
      };
      const put = await w.api("/api/routing_rules", { method: "PUT", body: rules });
      if (put.status !== 200) throw new Error(`rules: ${put.text}`);
    }
    const pushed = [];
    const push = async (i) => {
      const at = Date.now();
      const r = await w.push(email({ subject: `${name} ${i} ${crypto.randomUUID()}` }));
      if (r.json?.status !== "queued") throw new Error(`push ${i}: ${r.status} ${r.text}`);
      pushed.push({ id: r.json.email_id, at });
    };
    if (s.burst) {
      // One client, as fast as the ingest answers: the order of the answers is the order the
      // worker accepted them in (concurrent pushes would have no order to check against).
      await sleep(s.burstAt);
      for (let i = 0; i < s.burst; i++) await push(i);
    } else {
      for (let i = 0; i < s.count; i++) {
        const due = t0 + i * s.every;
        if (due > Date.now()) await sleep(due - Date.now());
        await push(i);
      }
    }
    pushed.sort((a, b) => a.at - b.at);
    const upAt = t0 + s.downAt + s.downFor;
    if (upAt > Date.now()) await sleep(upAt - Date.now());
    const ok = (path) =>
      rec.requests.filter((q) => q.path === path && !q.action.drop && q.action.status === 200);
    await eventually(
      () => new Set(ok("/down").map((q) => q.json.microsoft_graph_email_id)).size >= pushed.length,
      { what: `${name}: every e-mail delivered after the outage`, timeoutMs: 30 * 60_000 },
    );
    await sleep(3_000); // anything late or repeated shows now
    const delivered = ok("/down");
    const order = [];
    for (const q of delivered) {
      const id = q.json.microsoft_graph_email_id;
      if (!order.includes(id)) order.push(id);
    }
    const inOrder = order.join() === pushed.map((p) => p.id).join();
    const perDelivery = new Map();
    for (const q of delivered)
      perDelivery.set(q.deliveryId, (perDelivery.get(q.deliveryId) ?? 0) + 1);
    const duplicates = [...perDelivery.values()].reduce((n, c) => n + (c - 1), 0);
    const dead = (await w.api("/api/dead_letters")).json.count;
    const afterUp = delivered.filter((q) => q.at >= upAt).map((q) => q.at - upAt);
    const beforeDown = delivered.filter((q) => q.at < t0 + s.downAt).length;
    const alerts = (await w.logs("")).length; // log entries, for the record
    const line = [
      `${name.padEnd(13)} ${String(pushed.length).padStart(3)} e-mails`,
      `delivered ${new Set(order).size}/${pushed.length} (${beforeDown} before the outage)`,
      `in acceptance order: ${inOrder ? "yes" : "NO"}`,
      `duplicates ${duplicates}`,
      `dead letters ${dead}`,
      `first webhook ${afterUp.length ? secs(Math.min(...afterUp)) : "—"} after the receiver was back`,
      `last ${afterUp.length ? secs(Math.max(...afterUp)) : "—"}`,
      `failed attempts ${rec.requests.filter((q) => q.path === "/down" && q.action.drop).length}`,
      `log entries ${alerts}`,
    ];
    if (s.twoTargets) {
      const lat = pushed.map(
        (p) =>
          rec.requests.find(
            (q) => q.path === "/healthy" && q.json?.microsoft_graph_email_id === p.id,
          ).at - p.at,
      );
      line.push(
        `healthy target latency p50 ${pct(lat, 50)} ms p99 ${pct(lat, 99)} ms max ${Math.max(...lat)} ms`,
      );
    }
    console.log(line.join(" · "));
    return inOrder && duplicates === 0 && dead === 0;
  } finally {
    await w.mf.dispose();
    await net.stop();
  }
}

/** What an outage of `downFor` seconds costs at these settings, from the retry and probe
 * schedules (the same arithmetic as the core's RetryPolicy and HealthPolicy). */
function schedule(vars, downFor) {
  const retries = Number(vars.WEBHOOK_RETRY_COUNT);
  const delay = Number(vars.WEBHOOK_RETRY_DELAY);
  const base = Number(vars.TARGET_PROBE_BASE_SECS);
  const max = Number(vars.TARGET_PROBE_MAX_SECS);
  let exhausted = 0;
  for (let i = 0; i < retries; i++) exhausted += delay * 2 ** i;
  if (downFor <= exhausted) return { parks: false, exhausted, wait: 0, probes: 0 };
  // The first e-mail fails at 0 and parks at `exhausted`; probes follow, doubling.
  let t = exhausted;
  let probes = 0;
  let gap = base;
  for (;;) {
    t += gap;
    probes += 1;
    if (t >= downFor) break;
    gap = Math.min(gap * 2, max);
  }
  return { parks: true, exhausted, wait: t - downFor, probes, lastGap: gap };
}

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SCENARIOS);
const results = await Promise.all(
  wanted.map((n) =>
    run(n, SCENARIOS[n]).catch((e) => {
      console.log(`${n}: FAILED ${e.message}`);
      return false;
    }),
  ),
);

const vars = wranglerConfig(".").vars;
console.log(
  `\nAt the defaults (retries ${vars.WEBHOOK_RETRY_COUNT} from ${vars.WEBHOOK_RETRY_DELAY} s, probes from ${vars.TARGET_PROBE_BASE_SECS} s doubling to ${vars.TARGET_PROBE_MAX_SECS} s), with no new e-mail during the outage (a new e-mail brings the next probe to ${vars.TARGET_PROBE_BASE_SECS} s after the last one):`,
);
for (const [label, s] of [
  ["1 minute", 60],
  ["10 minutes", 600],
  ["6 hours", 6 * 3600],
  ["3 days", 3 * 86400],
]) {
  const c = schedule(vars, s);
  console.log(
    c.parks
      ? `  ${label.padEnd(10)} parked after ${c.exhausted} s of retries; ${c.probes} probes; the next probe, which delivers, comes ${c.wait} s after the receiver is back for an outage of exactly this length (at worst ${c.lastGap} s, the probe interval then)`
      : `  ${label.padEnd(10)} covered by the retries (${c.exhausted} s): nothing parks`,
  );
}
process.exit(results.every(Boolean) ? 0 : 1);
