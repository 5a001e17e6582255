// Issue 10.3: one bad e-mail never takes others down. An e-mail that crashes the worker (a real
// panic in the processing consumer, through the FAULT_INJECT_PANIC_MARKER test aid) is pushed
// among normal ones: it is retried alone, given up after crashing twice on its own (logged
// `error`, reason `crashed`, kept as a dead letter), and every other e-mail is delivered.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const MARKER = "[crash-me]";
let stack, rec, w;

before(async () => {
  stack = await startStack({
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/isolation",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      FAULT_INJECT_PANIC_MARKER: MARKER,
      // The test aid is refused outside local development (docs/security.md).
      DEV_ALLOW_HTTP_LOOPBACK: "true",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

const requestsOf = (id) => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id);

test("an e-mail that crashes the worker is isolated and dead-lettered; its batch-mates are delivered", async () => {
  const run = crypto.randomUUID();
  const subjects = Array.from({ length: 10 }, (_, i) =>
    i === 4 ? `bad ${MARKER} ${run}` : `good ${i} ${run}`,
  );
  // Pushed together, so that they share processing batches.
  const answers = await Promise.all(subjects.map((subject) => w.push(email({ subject }))));
  for (const a of answers) assert.equal(a.json?.status, "queued", a.text);
  const ids = answers.map((a) => a.json.email_id);
  const bad = ids[4];
  const good = ids.filter((id) => id !== bad);

  await eventually(() => good.every((id) => requestsOf(id).length > 0), {
    what: "every good e-mail delivered",
    timeoutMs: 60_000,
  });
  const crashed = await eventually(
    async () => (await w.logs(`email_id=${bad}`)).find((l) => l.reason === "crashed"),
    { what: "the crash log entry", timeoutMs: 60_000 },
  );
  assert.equal(crashed.status, "error");
  assert.match(crashed.error, /crashed .* 2 times/);
  const dead = await eventually(
    async () => {
      const r = await w.api("/api/dead_letters");
      return r.json.dead_letters.find((d) => d.email_id === bad);
    },
    { what: "the dead letter" },
  );
  assert.equal(dead.reason, "crashed");
  assert.equal(requestsOf(bad).length, 0, "the bad e-mail never reached the receiver");
  for (const id of good) {
    const ids = new Set(requestsOf(id).map((r) => r.deliveryId));
    assert.equal(ids.size, 1, "a repeat, if any, carries the same delivery id");
  }

  // The worker is healthy afterwards.
  const after = await w.push(email({ subject: `after ${run}` }));
  await eventually(() => requestsOf(after.json.email_id).length > 0, {
    what: "a delivery after the crash",
  });
});
