// 2,000 e-mails with the receiver failing 30% of first attempts: every e-mail is delivered (by
// delivery id) and has its final log entry.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { draw } from "../harness/receiver.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const N = Number(process.env.FACTEUR_LOAD_EMAILS ?? 2000);
const TARGET = "https://hooks.receiver.test/load";
let stack, rec, w;

before(async () => {
  stack = await startStack({
    redis: true,
    vars: {
      WEBHOOK_URL: TARGET,
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      WEBHOOK_LOG_MAX_ENTRIES: String(N * 3),
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

const deliveryIdOf = (emailId) =>
  "dlv_" + crypto.createHash("sha256").update(`${emailId}\n${TARGET}`).digest("hex").slice(0, 24);

test(
  `${N} e-mails, 30% of first attempts failing: all delivered, all logged`,
  { timeout: 20 * 60_000 },
  async () => {
    rec.setPlan((r) =>
      r.attempt === 1 && draw(r.deliveryId) < 0.3 ? { status: 503 } : { status: 200 },
    );
    const started = Date.now();
    const ids = [];
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const r = await w.push(email({ subject: `load ${i} ${crypto.randomUUID()}` }));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.status, "queued");
        ids.push(r.json.email_id);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const pushedIn = Date.now() - started;

    const expected = new Set(ids.map(deliveryIdOf));
    const delivered = () => new Set(rec.delivered().map((r) => r.deliveryId));
    await eventually(() => [...expected].every((d) => delivered().has(d)), {
      timeoutMs: 15 * 60_000,
      intervalMs: 500,
      what: "every delivery",
    });
    const lastAt = Math.max(...rec.delivered().map((r) => r.at));
    const firstAttemptFailures = rec.requests.filter(
      (r) => r.attempt === 1 && r.action.status === 503,
    ).length;
    assert.ok(
      firstAttemptFailures > N * 0.25 && firstAttemptFailures < N * 0.35,
      `${firstAttemptFailures} first-attempt failures`,
    );
    const extra = rec.delivered().length - expected.size;
    assert.ok(extra >= 0);

    const logs = await eventually(
      async () => {
        const l = await w.logs("status=success");
        return l.length >= N ? l : null;
      },
      { timeoutMs: 60_000, what: "success logs" },
    );
    const logged = new Set(logs.map((l) => l.delivery_id));
    const missing = [...expected].filter((d) => !logged.has(d));
    assert.deepEqual(missing, [], "every delivery has its success log");
    const retrying = await w.logs("status=retrying");
    const refused = retrying.filter((l) => l.status_code === 503);
    assert.equal(
      refused.length,
      firstAttemptFailures,
      "every failed first attempt is logged as retrying",
    );
    assert.ok(refused.every((l) => l.attempt === 1));
    // Under load a keep-alive connection the receiver is closing can reset a request before it
    // reaches the receiver: the worker logs that attempt as a network error and retries it.
    const others = retrying.filter((l) => l.status_code !== 503);
    assert.ok(
      others.every((l) => l.status_code === null && /^network error|^timeout/.test(l.error)),
      JSON.stringify(others.slice(0, 3)),
    );
    console.log(
      `# figures: ${N} e-mails pushed in ${(pushedIn / 1000).toFixed(1)} s; first push to last webhook ${((lastAt - started) / 1000).toFixed(1)} s; ${firstAttemptFailures} first attempts failed; ${extra} duplicate deliveries; ${others.length} attempts lost to connection resets`,
    );
  },
);
