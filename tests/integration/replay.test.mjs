// Bulk replay of past deliveries (issue #13): POST /api/deliveries/replay selects deliveries
// from the delivery log (Redis and KV) by time, target, status, detector or e-mail id; the dry
// run answers how many and which, the replay then sends exactly those, with their delivery ids
// and the bodies they were sent with; `reroute` plans the e-mails again with the current rules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually, sleep } from "../harness/ports.mjs";

const HOOK = "https://hooks.receiver.test/replay-hook";
const OTHER = "https://other.receiver.test/rerouted";
let stack, rec, w;
let failing = true;
// Subjects marked [fails] get a 404 (an error at once) while `failing` is on.
const plan = (r) =>
  failing && (r.json?.subject ?? "").includes("[fails]") ? { status: 404 } : { status: 200 };

before(async () => {
  stack = await startStack({
    redis: true,
    plan,
    receiverHosts: ["hooks.receiver.test", "other.receiver.test"],
    vars: {
      WEBHOOK_URL: HOOK,
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_COUNT: "0",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

const received = (id) => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id);
const replay = (body, dryRun) =>
  w.api(`/api/deliveries/replay${dryRun ? "?dry_run=true" : ""}`, { method: "POST", body });

/** Pushes an e-mail and waits for its final log line; answers { id, log }. */
async function delivered(subject) {
  const r = await w.push(email({ subject: `${subject} ${crypto.randomUUID()}` }));
  assert.equal(r.json.status, "queued", r.text);
  const id = r.json.email_id;
  const log = await eventually(
    async () =>
      (await w.logs(`email_id=${id}`)).find((l) => l.status === "success" || l.status === "error"),
    { what: `final log of ${id}` },
  );
  return { id, log };
}

test("the dry-run count is the number then replayed: the same deliveries, ids and bodies", async () => {
  const failed = [
    await delivered("[fails] one"),
    await delivered("[fails] two"),
    await delivered("[fails] three"),
  ];
  const fine = await delivered("fine");
  assert.ok(failed.every((f) => f.log.status === "error") && fine.log.status === "success");
  const ids = failed.map((f) => f.id);
  const since = new Date(Date.now() - 60_000).toISOString();
  failing = false;
  const dry = await replay({ status: "error", from: since, target: "HOOKS.receiver.test" }, true);
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.dry_run, true);
  const mine = dry.json.items.filter((i) => ids.includes(i.email_id));
  assert.equal(mine.length, 3, JSON.stringify(dry.json));
  for (const item of mine) {
    assert.equal(item.status, "error");
    assert.equal(item.target, "https://hooks.receiver.test/repl…", "the target is masked");
    assert.equal(item.delivery_id, failed.find((f) => f.id === item.email_id).log.delivery_id);
  }
  assert.ok(
    !dry.json.items.some((i) => i.email_id === fine.id),
    "a success is not selected by status error",
  );
  await sleep(1_000);
  assert.ok(
    ids.every((id) => received(id).length === 1),
    "a dry run sends nothing",
  );

  const real = await replay({ status: "error", from: since, target: "HOOKS.receiver.test" });
  assert.equal(real.status, 202, real.text);
  assert.equal(real.json.count, dry.json.count, "the dry run counted what was replayed");
  assert.deepEqual([...real.json.replayed].sort(), dry.json.items.map((i) => i.delivery_id).sort());
  assert.deepEqual(real.json.failed, []);
  for (const f of failed) {
    const [first, again] = await eventually(
      () => (received(f.id).length >= 2 ? received(f.id) : null),
      { what: "replayed delivery" },
    );
    assert.equal(again.deliveryId, first.deliveryId, "same delivery id: receivers drop repeats");
    assert.ok(again.raw === first.raw, "the body as it was sent");
    assert.equal(again.attempt, 1);
  }
  // Each one succeeded since: nothing is left to replay by status error.
  await eventually(
    async () =>
      (await Promise.all(ids.map((id) => w.logs(`email_id=${id}&status=success`)))).every(
        (l) => l.length === 1,
      ),
    { what: "replay logged" },
  );
  const after = await replay({ status: "error", from: since }, true);
  assert.ok(!after.json.items.some((i) => ids.includes(i.email_id)), JSON.stringify(after.json));
});

test("filters: e-mail id, detector, time window, limit with more", async () => {
  const a = await delivered("filter a");
  const b = await delivered("filter b");
  const byId = await replay({ email_id: a.id }, true);
  assert.deepEqual(
    byId.json.items.map((i) => i.email_id),
    [a.id],
  );
  assert.equal(byId.json.count, 1);
  assert.equal(
    (await replay({ email_id: a.id, detector: "recadrage" }, true)).json.count,
    0,
    "not a recadrage",
  );
  const future = new Date(Date.now() + 3_600_000).toISOString();
  assert.equal((await replay({ from: future }, true)).json.count, 0);
  const past = new Date(Date.now() - 3_600_000).toISOString();
  assert.equal(
    (await replay({ email_id: b.id, to: past }, true)).json.count,
    0,
    "to is exclusive of what came after",
  );
  const one = await replay({ limit: 1 }, true);
  assert.equal(one.json.count, 1);
  assert.equal(one.json.more, true);
  assert.equal(one.json.items[0].email_id, b.id, "newest first");
});

test("an expired archive is not counted, in the dry run as in the replay", async () => {
  // A delivery the log still shows but the archive no longer holds (the archive's day tables
  // expire on their own): its log entry is written straight into Redis.
  const id = crypto.randomBytes(16).toString("hex");
  const deliveryId = `dlv_${crypto.randomBytes(12).toString("hex")}`;
  const entry = {
    id: `expired-${id}`,
    timestamp: new Date().toISOString(),
    status: "success",
    email_id: id,
    delivery_id: deliveryId,
    webhook_url: "https://hooks.receiver.test/***",
    target_url: "https://hooks.receiver.test/replay-hook",
    attempt: 1,
  };
  await stack.upstash.redis([["LPUSH", "r:ss:webhook_logs:v1", JSON.stringify(entry)]]);
  const dry = await replay({ email_id: id }, true);
  assert.equal(dry.json.count, 0);
  assert.deepEqual(dry.json.unavailable, [
    { delivery_id: deliveryId, email_id: id, reason: "archive_expired" },
  ]);
  const real = await replay({ email_id: id });
  assert.equal(real.status, 202);
  assert.equal(real.json.count, 0);
  assert.equal(real.json.unavailable.length, 1);
  await sleep(500);
  assert.equal(received(id).length, 0);
});

test("reroute: the e-mail planned again with the current rules; unchanged targets keep their delivery id", async () => {
  const r = await delivered("reroute me");
  const [first] = received(r.id);
  const rules = {
    rules: [
      {
        id: "r1",
        name: "to other",
        conditions: [{ field: "subject", operator: "contains", value: "reroute me" }],
        actions: { webhook_url: OTHER, priority: "normal", stop_processing: false },
      },
    ],
  };
  assert.equal((await w.api("/api/routing_rules", { method: "PUT", body: rules })).status, 200);
  try {
    const dry = await replay({ email_id: r.id, reroute: true }, true);
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.reroute, true);
    assert.deepEqual(dry.json.emails, [{ email_id: r.id, decision: "deliver", deliveries: 2 }]);
    const byTarget = Object.fromEntries(dry.json.items.map((i) => [i.target, i]));
    assert.equal(byTarget["https://other.receiver.test/rero…"].status, "new");
    assert.equal(
      byTarget["https://hooks.receiver.test/repl…"].delivery_id,
      first.deliveryId,
      "same id for the unchanged target",
    );
    assert.equal(byTarget["https://hooks.receiver.test/repl…"].status, "success");

    const real = await replay({ email_id: r.id, reroute: true });
    assert.equal(real.status, 202, real.text);
    assert.equal(real.json.count, dry.json.count);
    assert.deepEqual(
      [...real.json.replayed].sort(),
      dry.json.items.map((i) => i.delivery_id).sort(),
    );
    const got = await eventually(() => (received(r.id).length >= 3 ? received(r.id) : null), {
      what: "rerouted deliveries",
    });
    const atOther = got.find((q) => q.host === "other.receiver.test");
    assert.ok(atOther, "delivered to the new rule's target");
    assert.notEqual(atOther.deliveryId, first.deliveryId);
    assert.equal(atOther.json.email_content, first.json.email_content);
    assert.equal(got.filter((q) => q.deliveryId === first.deliveryId).length, 2);
    // The re-routed delivery is archived: it can be replayed as sent.
    assert.equal(
      (await w.api(`/api/deliveries/${atOther.deliveryId}/replay`, { method: "POST" })).status,
      202,
    );
  } finally {
    await w.api("/api/routing_rules", { method: "PUT", body: { rules: [] } });
  }
});

test("bad requests are 4xx naming the problem", async () => {
  const cases = [
    [{ since: "x" }, "since"],
    [{ status: "skipped" }, "status"],
    [{ from: "yesterday" }, "from"],
    [{ limit: 501 }, "limit"],
    [{ limit: 60, reroute: true }, "limit"],
    [[1, 2], "body"],
  ];
  for (const [body, field] of cases) {
    const r = await replay(body, true);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.success, false);
    assert.match(r.json.message, new RegExp(field), r.text);
  }
  const notJson = await w.api("/api/deliveries/replay", {
    method: "POST",
    body: "{",
    headers: { "Content-Type": "application/json" },
  });
  assert.equal(notJson.status, 400);
  assert.equal(notJson.json.code, "invalid_json");
  assert.equal(
    (await w.api("/api/deliveries/replay?dry_run=maybe", { method: "POST", body: {} })).json.code,
    "invalid_query",
  );
  assert.equal(
    (await w.api("/api/deliveries/replay", { method: "POST", body: {}, auth: "Bearer nope" }))
      .status,
    401,
  );
  assert.equal((await w.api("/api/deliveries/replay")).status, 405);
});
