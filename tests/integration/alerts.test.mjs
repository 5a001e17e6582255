// Issue 13: alerts that fire once and say when it is over. The cron (triggered here by hand)
// evaluates the thresholds over the log: the success rate falls under 90 %, one alert; checked
// again, no second one; the rate comes back, one "recovered". Alerts are signed webhooks, and
// GET /api/alerts says what is firing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const SECRET = "whsec_" + Buffer.from("alerts-test-key").toString("base64");
let stack,
  rec,
  w,
  failing = true;

before(async () => {
  stack = await startStack({
    receiverHosts: ["hooks.receiver.test", "alerts.receiver.test"],
    plan: (r) => (r.path === "/hook" && failing ? { status: 500 } : { status: 200 }),
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/hook",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_COUNT: "3",
      WEBHOOK_RETRY_DELAY: "1",
      ALERT_WEBHOOK_URL: "https://alerts.receiver.test/alerts",
      ALERT_MIN_ATTEMPTS: "4",
      WEBHOOK_SIGNING_SECRET: SECRET,
      // A delivery out of retries parks its target; it is probed within a second or two.
      TARGET_PROBE_BASE_SECS: "1",
      TARGET_PROBE_MAX_SECS: "2",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

async function pushAndSettle(n) {
  const ids = [];
  for (let i = 0; i < n; i++)
    ids.push((await w.push(email({ subject: `alerts ${crypto.randomUUID()}` }))).json.email_id);
  await eventually(
    async () => {
      const logs = await w.logs("");
      return ids.every((id) =>
        logs.some(
          (l) =>
            l.email_id === id &&
            (l.status === "success" || l.status === "error" || l.status === "parked"),
        ),
      );
    },
    { what: "the deliveries' final log entries" },
  );
}

const check = async () => (await w.mf.getWorker()).scheduled({ cron: "*/5 * * * *" });
const alerts = () =>
  rec.requests.filter((r) => r.path === "/alerts" && !r.json.alert.startsWith("target_"));

test("the success-rate alert fires once, stays quiet while firing, and recovers once", async () => {
  await pushAndSettle(5);
  await check();
  const fired = await eventually(() => (alerts().length >= 1 ? alerts() : null), {
    what: "the alert",
  });
  assert.equal(fired.length, 1);
  const a = fired[0];
  assert.equal(a.json.alert, "success_rate_low");
  assert.equal(a.json.state, "firing");
  assert.equal(a.json.details.threshold, 90);
  assert.equal(a.json.details.value, 0);
  const key = Buffer.from(SECRET.slice(6), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(`${a.headers["webhook-id"]}.${a.headers["webhook-timestamp"]}.${a.raw}`)
    .digest("base64");
  assert.ok(
    a.headers["webhook-signature"].split(" ").includes(`v1,${expected}`),
    "signed like webhooks",
  );
  assert.ok((await w.api("/api/alerts")).json.firing.includes("success_rate_low"));

  await check();
  await check();
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(
    alerts().filter((x) => x.json.alert === "success_rate_low").length,
    1,
    "no second alert while firing",
  );

  failing = false;
  await pushAndSettle(50);
  // The five parked during the failure are delivered too, once the target is probed.
  await eventually(
    async () => (await w.api("/api/stats?days=1")).json.stats.overall.delivered >= 55 || null,
    { what: "the parked deliveries drained" },
  );
  await check();
  const recovered = await eventually(() => alerts().find((x) => x.json.state === "recovered"), {
    what: "the recovery",
  });
  assert.equal(recovered.json.alert, "success_rate_low");
  assert.deepEqual((await w.api("/api/alerts")).json.firing, []);
  const stats = (await w.api("/api/stats?days=1")).json.stats;
  assert.equal(stats.overall.delivered, 55, "alerts' own deliveries are not counted");
  // The first to run out of retries parked the target; the others parked behind it.
  assert.ok(stats.overall.parked >= 1, JSON.stringify(stats.overall));
});
