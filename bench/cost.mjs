// What a day of mail costs: a realistic day pushed through the real worker in local workerd
// (the embedded default: no Redis; then with Redis behind the Upstash REST fixture), every
// billed operation counted by the worker itself (adapters count, the journal adds up the day),
// then read back and priced. Prints, for each run:
//   - billed operations per e-mail, by kind;
//   - the Workers Free plan's ceiling in e-mails a day, naming the limit reached first (what an
//     idle day spends, measured below, comes off first);
//   - the Workers Paid price per million e-mails past the plan's inclusions;
// and for an idle day (no mail: the cron runs alone) the share of each Free daily limit spent.
//
// The day: N e-mails (default 500; 382 of 500 carry a provider link, the others are skipped as
// `no_links`), a few large ones (300 KB of HTML), 5 % of first attempts refused with a 503 (then
// retried), and a short receiver outage in the middle: down while 1 % of the day's e-mails
// arrive (their attempts are retried until it is back; a day compressed into two minutes would
// otherwise put a sixth of the day's mail into a 20-second outage).
// Prices: docs/costs.md (read 2026-12-06), the same table as core/src/operator/costs.rs.
//
// Usage: node bench/cost.mjs [e-mails=500]
import crypto from "node:crypto";
import { email } from "../tests/harness/worker.mjs";
import { startStack } from "../tests/harness/stack.mjs";
import { draw } from "../tests/harness/receiver.mjs";
import { eventually, sleep } from "../tests/harness/ports.mjs";

const N = Number(process.argv[2] ?? 500);
// The hourly cleanup's cron (src/handlers/scheduled.rs, CLEANUP_CRON).
const CLEANUP_CRON = "0 * * * *";
const WITH_LINK = 382 / 500;
const LARGE_EVERY = 100;

// [name, count of an Ops, Free daily limit (null: none), Paid $ per million]
const METERS = [
  ["Workers requests", (o) => o.invocations, 100_000, 0.3],
  ["KV reads", (o) => o.kv_reads, 100_000, 0.5],
  ["KV writes", (o) => o.kv_writes, 1_000, 5],
  ["KV deletes", (o) => o.kv_deletes, 1_000, 5],
  ["KV lists", (o) => o.kv_lists, 1_000, 5],
  ["Durable Objects requests", (o) => o.do_requests, 100_000, 0.15],
  ["Durable Objects rows read", (o) => o.do_rows_read, 5_000_000, 0.001],
  ["Durable Objects rows written", (o) => o.do_rows_written, 100_000, 1],
  ["Queues operations", (o) => o.queue_writes + o.queue_reads + o.queue_deletes, 10_000, 0.4],
  ["R2 class A operations", (o) => o.r2_class_a, Math.floor(1_000_000 / 30), 4.5],
  ["R2 class B operations", (o) => o.r2_class_b, Math.floor(10_000_000 / 30), 0.36],
  ["Upstash commands", (o) => o.redis_commands, Math.floor((500_000 * 10) / 304), 2],
  ["Subrequests (per invocation: 50 on Free)", (o) => o.subrequests + o.service_calls, null, 0],
];
const n2 = (x) => (Math.round(x * 100) / 100).toString();

/** One call to the journal object, as the worker makes it. */
async function journal(w, call) {
  const ns = await w.mf.getDurableObjectNamespace("JOURNAL");
  const res = await ns.get(ns.idFromName("journal")).fetch("https://journal.internal/", {
    method: "POST",
    body: JSON.stringify({ call, now_ms: Date.now() }),
  });
  return res.json();
}

/** Today's operations as the journal added them up (after the worker's last counts arrive). */
async function today(w) {
  // Counts wait at most a minute for a call to carry them: a call of the bench's own carries
  // none, so wait for the worker's flush (a push forces a processing invocation).
  await sleep(61_000);
  await w.push(email({ subject: `flush ${crypto.randomUUID()}` }));
  await sleep(3_000);
  const reply = await journal(w, { op: "days", days: 1 });
  return { ops: reply.days[0][1], limits: reply.limits };
}

function large(i) {
  const filler = `<p>${"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(5_300)}</p>`;
  return `<html><body><p>Bonjour ${i}, les fichiers : https://www.dropbox.com/scl/fo/large${i}/photos?rlkey=k${i}&dl=0</p>${filler}</body></html>`;
}

async function day(redis) {
  let down = false;
  const stack = await startStack({
    redis,
    plan: (r) => {
      if (down) return { drop: true };
      if (r.attempt === 1 && draw(r.deliveryId, "cost") < 0.05) return { status: 503 };
      return { status: 200 };
    },
    vars: { WEBHOOK_URL: "https://hooks.receiver.test/cost" },
  });
  const { worker: w, receiver: rec } = stack;
  try {
    const started = Date.now();
    const expected = [];
    const outage = [Math.floor(N / 2), Math.floor(N / 2) + Math.max(1, Math.floor(N / 100))];
    for (let i = 0; i < N; i++) {
      if (i === outage[0]) down = true;
      if (i === outage[1]) down = false;
      const linked = draw(String(i), "links") < WITH_LINK;
      const body =
        i % LARGE_EVERY === 7
          ? large(i)
          : linked
            ? `<p>Bonjour, les fichiers : https://www.dropbox.com/scl/fo/f${i}/photos?rlkey=k${i}&dl=0</p>`
            : `<p>Bonjour, rien à télécharger (${i}).</p>`;
      const r = await w.push(email({ subject: `Day ${i} ${crypto.randomUUID()}`, body }));
      if (r.json?.status !== "queued") throw new Error(`push ${i}: ${r.status} ${r.text}`);
      if (linked || i % LARGE_EVERY === 7) expected.push(r.json.email_id);
      await sleep(20);
    }
    await eventually(
      () => {
        const got = new Set(
          rec.requests
            .filter((q) => q.action.status === 200)
            .map((q) => q.json?.microsoft_graph_email_id),
        );
        return expected.every((id) => got.has(id));
      },
      { what: "every linked e-mail delivered", timeoutMs: 10 * 60_000 },
    );
    const { ops, limits } = await today(w);
    return { ops, limits, emails: ops.emails, seconds: (Date.now() - started) / 1000 };
  } finally {
    await stack.stop();
  }
}

async function idle(redis) {
  const stack = await startStack({
    redis,
    r2: true, // the R2_FETCH binding, as deployed: the hourly cleanup runs
    vars: { WEBHOOK_URL: "https://hooks.receiver.test/idle" },
  });
  const w = stack.worker;
  try {
    // A whole day of crons, nothing else: the alert check every 5 minutes (288 runs) and the
    // R2 cleanup every hour (24). The last alert check runs once the counts have waited a
    // minute, so it carries them to the journal.
    const worker = await w.mf.getWorker();
    for (let i = 0; i < 287; i++) {
      if (i % 12 === 0) await worker.scheduled({ cron: CLEANUP_CRON });
      await worker.scheduled({ cron: "*/5 * * * *" });
    }
    await sleep(61_000);
    await worker.scheduled({ cron: "*/5 * * * *" });
    await sleep(2_000);
    return (await journal(w, { op: "days", days: 1 })).days[0][1];
  } finally {
    await stack.stop();
  }
}

function report(label, run, idleDay) {
  const e = Math.max(1, run.emails);
  console.log(`\n== ${label}: ${run.emails} e-mails in ${run.seconds.toFixed(0)} s`);
  console.log("billed operations per e-mail:");
  let best = null;
  let paid = 0;
  for (const [name, count, free, price] of METERS) {
    const per = count(run.ops) / e;
    if (per === 0) continue;
    console.log(`  ${name.padEnd(42)} ${n2(per).padStart(8)}`);
    paid += per * price;
    if (free) {
      const fits = Math.floor((free - count(idleDay)) / per);
      if (!best || fits < best[0]) best = [fits, name];
    }
  }
  console.log(
    `Workers Free plan: ${best ? `${best[0].toLocaleString("en")} e-mails a day, first limit reached: ${best[1]}` : "no daily limit binds"}`,
  );
  console.log(
    `Workers Paid: $${n2(paid)} per million e-mails past the plan's inclusions (CPU apart: bench/core.mjs)`,
  );
  if (run.limits.length)
    console.log(`daily limits reached in the run: ${JSON.stringify(run.limits)}`);
}

function reportIdle(label, idleDay) {
  console.log(`\n== an idle day, ${label} (the cron alone): share of each Free daily limit`);
  for (const [name, count, free] of METERS) {
    const n = count(idleDay);
    if (!free || n === 0) continue;
    console.log(
      `  ${name.padEnd(42)} ${String(n).padStart(8)} a day  ${((n * 100) / free).toFixed(2)} %`,
    );
  }
}

const idleKv = await idle(false);
reportIdle("embedded default", idleKv);
report("embedded default (no Redis)", await day(false), idleKv);
const idleRedis = await idle(true);
reportIdle("with Redis", idleRedis);
report("with Redis (Upstash REST)", await day(true), idleRedis);
