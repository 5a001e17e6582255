// SPEC §7: delivery through the queues, outcome classification, retries with growing delays,
// parking when they run out, dead letters, and what the receiver sees.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email, asGuesser } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const SECRET = "whsec_" + Buffer.from("facteur-test-signing-key").toString("base64");
let stack, rec, w;

// Behaviour is chosen by a marker in the subject; the attempt number comes from the header.
function plan(r) {
  const subject = r.json?.subject ?? "";
  if (subject.includes("[404]")) return { status: 404 };
  if (subject.includes("[timeout-once]") && r.attempt === 1) return { delayMs: 2_500 };
  if (subject.includes("[drop-once]") && r.attempt === 1) return { drop: true };
  if (subject.includes("[429-2s]") && r.attempt === 1) return { status: 429, retryAfter: 2 };
  if (subject.includes("[always-503]")) return { status: 503 };
  if (subject.includes("[poison]")) return { status: 500 };
  if (subject.includes("[500-twice]") && r.attempt <= 2) return { status: 500 };
  if (subject.includes("[redirect]")) return { status: 302 };
  return { status: 200 };
}

before(async () => {
  stack = await startStack({
    plan,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/hook",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      WEBHOOK_RETRY_COUNT: "3",
      WEBHOOK_TIMEOUT_SEC: "1",
      WEBHOOK_SIGNING_SECRET: SECRET,
      // Probes within a second or two (the default waits 30 s first).
      TARGET_PROBE_BASE_SECS: "1",
      TARGET_PROBE_MAX_SECS: "2",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

async function pushAndId(subject, extra = {}) {
  const r = await w.push(email({ subject: `${subject} ${crypto.randomUUID()}`, ...extra }));
  assert.equal(r.json.status, "queued", JSON.stringify(r.json));
  return r.json.email_id;
}
const requestsOf = (id) => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id);
const finalLog = async (id) =>
  (await w.logs(`email_id=${id}`)).find((l) => l.status === "success" || l.status === "error");

test("a 2xx delivers once, with the payload, headers and a valid signature", async () => {
  const id = await pushAndId("plain");
  const [req] = await eventually(
    () => {
      const r = requestsOf(id);
      return r.length ? r : null;
    },
    { what: "delivery" },
  );
  assert.equal(req.headers["content-type"], "application/json");
  assert.match(req.headers["user-agent"], /^Facteur\//);
  assert.equal(req.headers["x-source"], "facteur");
  assert.match(req.deliveryId, /^dlv_[0-9a-f]{24}$/);
  assert.equal(req.headers["webhook-id"], req.deliveryId);
  const key = Buffer.from(SECRET.slice(6), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(`${req.headers["webhook-id"]}.${req.headers["webhook-timestamp"]}.${req.raw}`)
    .digest("base64");
  assert.equal(req.headers["webhook-signature"], `v1,${expected}`);
  for (const k of [
    "microsoft_graph_email_id",
    "subject",
    "receivedDateTime",
    "sender_address",
    "sender_email",
    "bodyPreview",
    "email_content",
    "source",
    "delivery_links",
    "first_direct_download_url",
    "dropbox_urls",
    "dropbox_first_url",
    "webhooks_time_start",
    "webhooks_time_end",
  ]) {
    assert.ok(k in req.json, `payload lacks ${k}`);
  }
  assert.equal(req.json.source, "gmail_push");
  const log = await eventually(() => finalLog(id), { what: "final log" });
  assert.equal(log.status, "success");
  assert.equal(log.status_code, 200);
  assert.equal(log.webhook_url, "https://hooks.receiver.test/***");
  assert.equal(log.attempt, 1);
});

test("a 4xx receiver is not retried: one request, an error log, a dead letter", async () => {
  const id = await pushAndId("[404]");
  const log = await eventually(() => finalLog(id), { what: "final log" });
  assert.equal(log.status, "error");
  assert.equal(log.status_code, 404);
  assert.equal(log.reason, "not_retryable");
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(requestsOf(id).length, 1, "never retried");
  const dead = await eventually(
    async () => (await w.api("/api/dead_letters")).json.dead_letters.find((d) => d.email_id === id),
    { what: "dead letter" },
  );
  assert.equal(dead.reason, "not_retryable");
  assert.equal(dead.webhook_url, "https://hooks.receiver.test/***");
});

test("a timeout is retried and the next attempt succeeds", async () => {
  const id = await pushAndId("[timeout-once]");
  const log = await eventually(() => finalLog(id), { what: "final log", timeoutMs: 30_000 });
  assert.equal(log.status, "success");
  assert.equal(log.attempt, 2);
  const logs = await w.logs(`email_id=${id}`);
  const retrying = logs.find((l) => l.status === "retrying");
  assert.ok(retrying, JSON.stringify(logs));
  assert.equal(retrying.error, "timeout after 1s");
  assert.equal(retrying.attempt, 1);
  assert.equal(retrying.next_retry_in_sec, 1);
  const reqs = requestsOf(id);
  assert.equal(new Set(reqs.map((r) => r.deliveryId)).size, 1, "one delivery id across attempts");
  assert.deepEqual(reqs.map((r) => r.attempt).sort(), [1, 2]);
});

test("a dropped connection is retried", async () => {
  const id = await pushAndId("[drop-once]");
  const log = await eventually(() => finalLog(id), { what: "final log" });
  assert.equal(log.status, "success");
  const retrying = (await w.logs(`email_id=${id}&status=retrying`))[0];
  assert.match(
    retrying.error,
    /^network error/,
    "a dropped connection is a network error, not a status",
  );
  assert.equal(retrying.status_code, null);
});

test("Retry-After from a 429 sets the wait before the next attempt", async () => {
  const id = await pushAndId("[429-2s]");
  await eventually(() => finalLog(id), { what: "final log" });
  const [first, second] = requestsOf(id).sort((a, b) => a.attempt - b.attempt);
  assert.ok(second.at - first.at >= 1_900, `waited ${second.at - first.at} ms`);
  const retrying = (await w.logs(`email_id=${id}&status=retrying`))[0];
  assert.equal(retrying.next_retry_in_sec, 2);
  assert.equal(retrying.status_code, 429);
});

test("delays grow between attempts; out of retries the delivery parks, and is delivered when the receiver answers", async () => {
  const id = await pushAndId("[always-503]");
  const parked = await eventually(
    async () => (await w.logs(`email_id=${id}&status=parked`)).find((l) => l.attempt === 4),
    { what: "the delivery parked after its last retry", timeoutMs: 40_000 },
  );
  assert.equal(parked.reason, "retries_exhausted");
  assert.equal(parked.error, "HTTP 503");
  assert.equal(parked.status_code, 503);
  const reqs = requestsOf(id).sort((a, b) => a.attempt - b.attempt);
  assert.equal(reqs.length, 4, "1 attempt + 3 retries, then parked");
  const gaps = reqs.slice(1).map((r, i) => r.at - reqs[i].at);
  assert.ok(gaps[0] >= 900 && gaps[1] >= 1_900 && gaps[2] >= 3_900, `gaps ${gaps}`);
  const retries = await w.logs(`email_id=${id}&status=retrying`);
  assert.deepEqual(retries.map((l) => l.next_retry_in_sec).sort(), [1, 2, 4]);
  assert.equal(await finalLog(id), undefined, "neither delivered nor given up");
  const dead = (await w.api("/api/dead_letters")).json.dead_letters;
  assert.ok(!dead.some((d) => d.email_id === id), "not in the dead letters");
  const target = (await w.api("/api/targets")).json.targets.find((t) => t.parked > 0);
  assert.equal(target.state, "paused", "the target parks from then on");
  assert.match(target.pause_cause, /4 attempts/);

  // The receiver answers again: the next probe delivers it, same delivery id, fresh count.
  rec.setPlan((r) => (r.json?.microsoft_graph_email_id === id ? { status: 200 } : plan(r)));
  try {
    const log = await eventually(() => finalLog(id), { what: "delivered after the probe" });
    assert.equal(log.status, "success");
    const last = requestsOf(id).at(-1);
    assert.equal(last.deliveryId, reqs[0].deliveryId, "same delivery id");
    assert.equal(last.attempt, 1, "attempts count afresh once parked");
    await eventually(
      async () =>
        (await w.api("/api/targets")).json.targets.every((t) => t.state === "healthy") || null,
      { what: "the target healthy again" },
    );
  } finally {
    rec.setPlan(plan);
  }
});

test("a receiver that refuses one e-mail but takes the others: that one is set aside, the others are not held", async () => {
  const poison = await pushAndId("[poison]");
  await eventually(
    async () => (await w.logs(`email_id=${poison}&status=parked`)).find((l) => l.attempt === 4),
    { what: "the refused e-mail parked", timeoutMs: 40_000 },
  );
  // E-mails behind it park, the probes find the receiver up, and the refused one is set aside
  // after three refusals; the others are delivered in order.
  const others = [];
  for (let i = 0; i < 3; i++) others.push(await pushAndId(`behind the poison ${i}`));
  const dead = await eventually(
    async () =>
      (await w.api("/api/dead_letters")).json.dead_letters.find((d) => d.email_id === poison),
    { what: "the refused e-mail in the dead letters", timeoutMs: 60_000 },
  );
  assert.equal(dead.reason, "refused_by_receiver");
  for (const id of others) {
    const log = await eventually(() => finalLog(id), { what: `e-mail ${id} delivered` });
    assert.equal(log.status, "success");
  }
  const arrivals = others.map((id) => requestsOf(id).find((r) => r.action.status === 200).at);
  assert.deepEqual(
    arrivals,
    [...arrivals].sort((a, b) => a - b),
    "in acceptance order",
  );
  await eventually(
    async () =>
      (await w.api("/api/targets")).json.targets.every((t) => t.state === "healthy") || null,
    { what: "the target healthy again" },
  );
});

test("out of retries while the receiver takes other e-mails: given up at once, nothing held", async () => {
  const poison = await pushAndId("[poison] while others pass");
  // Another e-mail delivered while the refused one is still being retried.
  await new Promise((r) => setTimeout(r, 500));
  const other = await pushAndId("passes meanwhile");
  assert.equal(
    (await eventually(() => finalLog(other), { what: "the other e-mail" })).status,
    "success",
  );
  const log = await eventually(() => finalLog(poison), {
    what: "the refused e-mail given up",
    timeoutMs: 40_000,
  });
  assert.equal(log.status, "error");
  assert.equal(log.reason, "retries_exhausted");
  const target = (await w.api("/api/targets")).json.targets[0];
  assert.equal(target.state, "healthy", "the target never parked");
  await eventually(
    async () =>
      (await w.api("/api/dead_letters")).json.dead_letters.find((d) => d.email_id === poison),
    { what: "its dead letter" },
  );
});

test("5xx twice then success: three attempts, one success log", async () => {
  const id = await pushAndId("[500-twice]");
  const log = await eventually(() => finalLog(id), { what: "final log" });
  assert.equal(log.status, "success");
  assert.equal(log.attempt, 3);
  assert.equal((await w.logs(`email_id=${id}&status=retrying`)).length, 2);
});

test("a redirect is not followed and not retried", async () => {
  const id = await pushAndId("[redirect]");
  const log = await eventually(() => finalLog(id), { what: "final log" });
  assert.equal(log.status, "error");
  assert.equal(log.status_code, 302);
  assert.equal(requestsOf(id).length, 1);
});

test("a payload larger than a queue message still delivers, byte for byte", async () => {
  const body = "<p>" + "é".repeat(200_000) + "</p>";
  const id = await pushAndId("big", { body });
  const [req] = await eventually(
    () => {
      const r = requestsOf(id);
      return r.length ? r : null;
    },
    { what: "delivery" },
  );
  assert.equal(req.json.email_content.length, body.length);
  assert.ok(req.json.email_content === body, "email_content differs from the pushed body");
  assert.ok(req.raw.length > 128 * 1024);
  assert.equal(req.json.bodyPreview, body.slice(0, 200));
});

test("an archived delivery replays with its delivery id and the body it was sent with, small or large", async () => {
  for (const body of ["<p>small</p>", "<p>" + "ü".repeat(100_000) + "</p>"]) {
    const id = await pushAndId("replay", { body });
    const [first] = await eventually(
      () => {
        const r = requestsOf(id);
        return r.length ? r : null;
      },
      { what: "delivery" },
    );
    const r = await w.api(`/api/deliveries/${first.deliveryId}/replay`, { method: "POST" });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.delivery_id, first.deliveryId);
    const [, again] = await eventually(
      () => {
        const rs = requestsOf(id);
        return rs.length >= 2 ? rs : null;
      },
      { what: "replayed delivery" },
    );
    assert.equal(again.deliveryId, first.deliveryId, "same delivery id: receivers drop the repeat");
    assert.equal(again.attempt, 1, "attempts count afresh");
    assert.ok(again.raw === first.raw, "the body is byte for byte the one first sent");
  }
  const unknown = await w.api("/api/deliveries/dlv_000000000000000000000000/replay", {
    method: "POST",
  });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.code, "not_found");
  assert.equal(
    (
      await w.api("/api/deliveries/dlv_x/replay", {
        method: "POST",
        auth: "Bearer wrong",
        headers: asGuesser(),
      })
    ).status,
    401,
  );
});
