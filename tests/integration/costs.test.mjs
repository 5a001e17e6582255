// Issue 20: every billed operation counted. The worker logs one `{"facteur_ops": …}` line per
// invocation; the embedded default (no Redis) delivers without a KV write; the cron lists no KV
// key; the overview says what one e-mail spent today and the Free plan's ceiling; a daily limit
// reached is kept, alerted once and shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually, sleep } from "../harness/ports.mjs";

let stack, rec, w, kv;

before(async () => {
  stack = await startStack({
    receiverHosts: ["hooks.receiver.test", "alerts.receiver.test"],
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/costs",
      ALERT_WEBHOOK_URL: "https://alerts.receiver.test/alerts",
    },
  });
  ({ receiver: rec, worker: w } = stack);
  kv = await w.mf.getKVNamespace("FACTEUR_KV");
});
after(() => stack?.stop());

const LINK = "https://www.dropbox.com/scl/fo/abc/photos?rlkey=k&dl=0";
async function deliver(n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const r = await w.push(
      email({ subject: `costs ${i} ${crypto.randomUUID()}`, body: `<p>${LINK}${i}</p>` }),
    );
    assert.equal(r.json.status, "queued", r.text);
    ids.push(r.json.email_id);
  }
  await eventually(
    () => ids.every((id) => rec.requests.some((q) => q.json?.microsoft_graph_email_id === id)),
    { what: "the e-mails delivered" },
  );
  return ids;
}

/** One call to the journal object, as the worker makes it. */
async function journal(call) {
  const ns = await w.mf.getDurableObjectNamespace("JOURNAL");
  const res = await ns.get(ns.idFromName("journal")).fetch("https://journal.internal/", {
    method: "POST",
    body: JSON.stringify({ call, now_ms: Date.now() }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

test("one line of billed operations per invocation; no KV write on the way of a delivered e-mail", async () => {
  await deliver(3);
  const line = (prefix) => w.ops.filter((l) => l.invocation.startsWith(prefix));
  const ingest = line("fetch POST /api/ingress/gmail");
  assert.equal(ingest.length, 3, "one line per push");
  for (const l of ingest) {
    assert.equal(l.facteur_ops.invocations, 1);
    assert.equal(l.facteur_ops.emails, 1);
  }
  const processed = await eventually(
    () => (line("queue facteur-process").length ? line("queue facteur-process") : null),
    {
      what: "the processing consumer's line",
    },
  );
  const p = processed.map((l) => l.facteur_ops);
  assert.ok(
    p.some((o) => o.queue_reads >= 1 && o.subrequests >= 1),
    JSON.stringify(p),
  );
  assert.ok(
    w.ops.some(
      (l) => l.invocation.startsWith("object journal") && l.facteur_ops.do_rows_written > 0,
    ),
    "the journal counts the rows it writes",
  );
  // KV: no log entry, no archive record, no body (the journal holds them).
  const keys = (await kv.list()).keys.map((k) => k.name);
  assert.deepEqual(
    keys.filter((k) => /^(log:|archive:|body:)/.test(k)),
    [],
    JSON.stringify(keys),
  );
});

test("the alert cron lists no KV key and writes nothing when nothing changes", async () => {
  const worker = await w.mf.getWorker();
  // The first run saves the alert states; the next ones find nothing changed.
  await worker.scheduled({ cron: "*/5 * * * *" });
  const before = w.ops.length;
  await worker.scheduled({ cron: "*/5 * * * *" });
  await worker.scheduled({ cron: "*/5 * * * *" });
  const cron = await eventually(
    () => {
      const lines = w.ops.slice(before).filter((l) => l.invocation.startsWith("cron"));
      return lines.length >= 2 ? lines : null;
    },
    { what: "the cron's lines" },
  );
  for (const l of cron) {
    assert.equal(l.facteur_ops.kv_lists, 0, JSON.stringify(l));
    assert.equal(l.facteur_ops.kv_writes, 0, JSON.stringify(l));
  }
});

test("the overview says what an e-mail spent today and the Free plan's ceiling", async () => {
  await deliver(2);
  // Counts reach the day's totals with the next journal call: the next push carries them.
  await deliver(1);
  const costs = await eventually(
    async () => {
      const c = (await w.api("/api/overview")).json.costs;
      return c.today?.emails >= 5 ? c : null;
    },
    { what: "today's costs", timeoutMs: 90_000 },
  );
  const per = Object.fromEntries(costs.today.per_email);
  assert.ok(per["Durable Objects requests"] > 0, JSON.stringify(per));
  assert.ok(per["Queues operations"] > 0);
  assert.ok(costs.today.free.emails_per_day >= 1_000, JSON.stringify(costs.today.free));
  assert.ok(costs.today.paid_per_million > 0);
  assert.deepEqual(costs.limits_reached, []);
});

test("a daily limit reached is kept once, alerted once and shown", async () => {
  // What the worker sends when a store refuses for a daily limit (src/adapters/ledger.rs).
  const first = "KV put() limit exceeded for the day.";
  await journal({ op: "limit_hit", store: "KV writes", detail: first });
  await journal({ op: "limit_hit", store: "KV writes", detail: "again" });
  const { limits_reached: limits } = (await w.api("/api/overview")).json.costs;
  assert.equal(limits.length, 1, "once per limit and day");
  assert.equal(limits[0].store, "KV writes");
  assert.equal(limits[0].detail, first);
  const worker = await w.mf.getWorker();
  await worker.scheduled({ cron: "*/5 * * * *" });
  await worker.scheduled({ cron: "*/5 * * * *" });
  const alerts = await eventually(
    () => {
      const a = rec.requests.filter(
        (q) => q.path === "/alerts" && q.json?.alert === "daily_limit_reached",
      );
      return a.length ? a : null;
    },
    { what: "the daily-limit alert" },
  );
  await sleep(1_000);
  assert.equal(
    rec.requests.filter((q) => q.path === "/alerts" && q.json?.alert === "daily_limit_reached")
      .length,
    1,
    "one alert while it lasts",
  );
  assert.equal(alerts[0].json.state, "firing");
  assert.deepEqual(alerts[0].json.details.value, ["KV writes"]);
});
