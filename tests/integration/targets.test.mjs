// Issue 13: receivers that fail for hours (time compressed by small settings). A receiver down
// while 300 e-mails are pushed: its target pauses, its deliveries are parked (0 dead letters),
// and once it is back all 300 are delivered in acceptance order, one success per delivery id,
// with one "paused" and one "resumed" alert. A second, healthy target of the same e-mails is
// not delayed meanwhile. Operators list, pause and resume targets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const DOWN = "https://hooks.receiver.test/down";
const HEALTHY = "https://hooks.receiver.test/healthy";
const N = Number(process.env.FACTEUR_OUTAGE_EMAILS ?? 300);
let stack, rec, w;
let receiverDown = true;

before(async () => {
  stack = await startStack({
    receiverHosts: ["hooks.receiver.test", "alerts.receiver.test"],
    plan: (r) => (r.path === "/down" && receiverDown ? { drop: true } : { status: 200 }),
    vars: {
      WEBHOOK_URL: DOWN,
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      WEBHOOK_RETRY_COUNT: "3",
      WEBHOOK_TIMEOUT_SEC: "2",
      TARGET_PAUSE_FAILURES: "5",
      TARGET_PAUSE_MIN_SECS: "1",
      TARGET_PROBE_BASE_SECS: "1",
      TARGET_PROBE_MAX_SECS: "2",
      TARGET_DRAIN_PER_SEC: "100",
      ALERT_WEBHOOK_URL: "https://alerts.receiver.test/alerts",
      WEBHOOK_SIGNING_SECRET: "whsec_" + Buffer.from("targets-test-key").toString("base64"),
    },
  });
  ({ receiver: rec, worker: w } = stack);
  const rules = {
    rules: [
      {
        id: "copy",
        name: "copy to the healthy receiver",
        conditions: [{ field: "sender", operator: "contains", value: "@" }],
        actions: { webhook_url: HEALTHY, priority: "normal", stop_processing: false },
      },
    ],
  };
  assert.equal((await w.api("/api/routing_rules", { method: "PUT", body: rules })).status, 200);
});
after(() => stack?.stop());

const targets = async () => (await w.api("/api/targets")).json.targets;
const targetOf = async (url) =>
  (await targets()).find((t) => t.target === url.replace(/^(https:\/\/[^/]+).*/, "$1/***") && t.id);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

test(
  `a receiver down for "hours": ${N} e-mails parked, then delivered in order, nothing dead-lettered`,
  { timeout: 10 * 60_000 },
  async () => {
    const run = crypto.randomUUID();
    const pushed = [];
    for (let i = 0; i < N; i++) {
      const at = Date.now();
      const r = await w.push(email({ subject: `outage ${i} ${run}` }));
      assert.equal(r.json?.status, "queued", r.text);
      pushed.push({ id: r.json.email_id, at });
    }
    const healthyArrival = (id) =>
      rec.requests.find((q) => q.path === "/healthy" && q.json?.microsoft_graph_email_id === id)
        ?.at;
    await eventually(() => pushed.every((p) => healthyArrival(p.id)), {
      what: "every e-mail at the healthy target",
      timeoutMs: 120_000,
    });
    const healthyLatency = pushed.map((p) => healthyArrival(p.id) - p.at);

    // All of the down target's deliveries are parked, none dead-lettered.
    const paused = await eventually(
      async () => {
        const ids = (await targets()).map((t) => t.id);
        const all = await targets();
        const down = all.find((t) => t.parked >= N);
        return down && ids.length ? down : null;
      },
      { what: `${N} deliveries parked`, timeoutMs: 120_000 },
    );
    assert.equal(paused.state, "paused");
    assert.equal(paused.parked, N);
    assert.ok(paused.failure_run >= 5, JSON.stringify(paused));
    assert.match(paused.last_error, /network error/);
    const dead = await w.api("/api/dead_letters");
    assert.equal(dead.json.count, 0, "nothing dead-lettered");
    const parkedLogs = await w.logs("status=parked");
    assert.ok(parkedLogs.length >= N, `${parkedLogs.length} parked log entries`);

    // The receiver comes back: a probe succeeds, the target drains in acceptance order.
    const backAt = Date.now();
    receiverDown = false;
    const successes = () =>
      rec.requests.filter((q) => q.path === "/down" && q.action.status === 200 && !q.action.drop);
    await eventually(
      () => new Set(successes().map((q) => q.json.microsoft_graph_email_id)).size >= N,
      { what: "all parked deliveries drained", timeoutMs: 120_000 },
    );
    const drainedIn = Math.max(...successes().map((q) => q.at)) - backAt;
    const order = successes().map((q) => q.json.microsoft_graph_email_id);
    assert.deepEqual(
      order,
      pushed.map((p) => p.id),
      "delivered in acceptance order",
    );
    const perId = new Map();
    for (const q of successes()) perId.set(q.deliveryId, (perId.get(q.deliveryId) ?? 0) + 1);
    assert.ok(
      [...perId.values()].every((n) => n === 1),
      "one successful webhook per delivery id",
    );
    assert.ok(
      successes().every((q) => q.attempt === 1),
      "attempts count afresh once drained",
    );

    const after = await eventually(
      async () => {
        const t = (await targets()).find((x) => x.id === paused.id);
        return t.state === "healthy" ? t : null;
      },
      { what: "the target healthy again" },
    );
    assert.equal(after.parked, 0);
    assert.equal((await w.api("/api/dead_letters")).json.count, 0, "still nothing dead-lettered");

    // One alert when it paused, one when it resumed.
    const alerts = await eventually(
      () => {
        const a = rec.requests.filter((q) => q.path === "/alerts");
        return a.length >= 2 ? a : null;
      },
      { what: "the alerts" },
    );
    const names = alerts.map((q) => q.json.alert).sort();
    assert.deepEqual(names, ["target_paused", "target_resumed"]);
    for (const a of alerts) {
      assert.equal(a.json.type, "facteur.alert");
      assert.equal(a.json.details.target, "https://hooks.receiver.test/***");
      assert.match(a.headers["webhook-signature"], /^v1,/, "alerts are signed");
    }
    console.log(
      `# figures: ${N} e-mails during the outage; healthy target push → webhook p50 ${pct(healthyLatency, 50)} ms, p99 ${pct(healthyLatency, 99)} ms, max ${Math.max(...healthyLatency)} ms; the down target drained ${N} parked deliveries in ${(drainedIn / 1000).toFixed(1)} s after it came back`,
    );
  },
);

test("operators pause and resume a target; a paused target parks, a resumed one drains", async () => {
  const list = await targets();
  const healthy = list.find(
    (t) =>
      t.target === "https://hooks.receiver.test/***" && t.state === "healthy" && t.id !== undefined,
  );
  assert.ok(healthy, JSON.stringify(list));
  const all = list.map((t) => t.id);
  assert.equal(new Set(all).size, all.length, "each target listed once");
  for (const t of list)
    assert.ok(
      !JSON.stringify(t).includes("/down") && !JSON.stringify(t).includes("/healthy"),
      "URLs are masked",
    );

  // Pause every target, push one e-mail: both deliveries parked.
  for (const t of list)
    assert.equal(
      (await w.api(`/api/targets/${t.id}/pause`, { method: "POST" })).json.target.state,
      "paused",
    );
  const r = await w.push(email({ subject: `manual ${crypto.randomUUID()}` }));
  const id = r.json.email_id;
  await eventually(async () => (await w.logs(`email_id=${id}&status=parked`)).length >= 2, {
    what: "both deliveries parked",
  });
  assert.equal(
    rec.requests.filter((q) => q.json?.microsoft_graph_email_id === id).length,
    0,
    "nothing attempted while paused",
  );
  for (const t of list)
    assert.equal((await w.api(`/api/targets/${t.id}/resume`, { method: "POST" })).status, 200);
  await eventually(
    () =>
      rec.requests.filter((q) => q.json?.microsoft_graph_email_id === id && q.action.status === 200)
        .length >= 2,
    { what: "both delivered after resume" },
  );
  assert.equal((await w.api("/api/targets/tgt_unknown/pause", { method: "POST" })).status, 404);
  assert.equal((await w.api("/api/targets/x/pause", { method: "GET" })).status, 405);
  assert.equal((await w.api("/api/targets", { auth: "Bearer wrong" })).status, 401);
});
