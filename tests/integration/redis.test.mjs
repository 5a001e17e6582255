// Redis through the Upstash REST protocol (a real redis-server behind the fixture), and the KV
// fallback: markers, config documents, the delivery log, and an outage in the middle of a run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually, sleep } from "../harness/ports.mjs";

let stack, rec, redis, upstash, w;
before(async () => {
  stack = await startStack({
    redis: true,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/hook",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      WEBHOOK_LOG_MAX_ENTRIES: "5000",
      REDIS_TIMEOUT_MS: "1000",
      GMAIL_SENDER_ALLOWLIST: "sender@example.com, other@example.com",
    },
  });
  ({ receiver: rec, redis, upstash, worker: w } = stack);
});
after(() => stack?.stop());

const LOG_KEY = "r:ss:webhook_logs:v1";

test("health reports Redis", async () => {
  assert.equal((await w.api("/health")).json.redis, "ok");
});

test("markers, the log list and config documents live in Redis with their TTLs", async () => {
  const r = await w.push(email());
  const id = r.json.email_id;
  assert.equal(r.json.status, "queued");
  const [exists, ttl, inflight] = await upstash.redis([
    ["EXISTS", `r:ss:processed_email:${id}`],
    ["TTL", `r:ss:processed_email:${id}`],
    ["EXISTS", `r:ss:inflight_email:${id}`],
  ]);
  assert.equal(exists, 1);
  assert.ok(ttl > 29 * 86400 && ttl <= 30 * 86400, `ttl ${ttl}`);
  assert.equal(inflight, 0, "the lock is released once the e-mail is queued");
  await eventually(
    async () =>
      (await upstash.redis([["LRANGE", LOG_KEY, 0, -1]]))[0].some(
        (s) => JSON.parse(s).email_id === id,
      ),
    { what: "log entry in Redis" },
  );
  const [logTtl] = await upstash.redis([["TTL", LOG_KEY]]);
  assert.ok(logTtl > 6 * 86400 && logTtl <= 7 * 86400, `log ttl ${logTtl}`);

  const put = await w.api("/api/processing_prefs", { method: "PUT", body: { retry_count: 2 } });
  assert.equal(put.status, 200);
  const [doc] = await upstash.redis([["GET", "r:ss:config:processing_prefs"]]);
  assert.equal(JSON.parse(doc).retry_count, 2);
  assert.match(JSON.parse(doc)._updated_at, /^\d{4}-\d\d-\d\dT/);
  await w.api("/api/processing_prefs", { method: "PUT", body: { retry_count: null } });
});

test("a Redis outage in the middle of a run loses no delivery and no log entry", async () => {
  const n = 200;
  const ids = [];
  const pushOne = async (i) => {
    const r = await w.push(email({ subject: `outage ${i} ${crypto.randomUUID()}` }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    ids.push(r.json.email_id);
  };
  for (let i = 0; i < n / 2; i++) await pushOne(i);
  await eventually(
    () => ids.every((id) => rec.requests.some((r) => r.json?.microsoft_graph_email_id === id)),
    { what: "first half delivered" },
  );
  // An attempt is logged just after the receiver answers: wait for the log lines too.
  const redisIds = async () =>
    new Set(
      (await upstash.redis([["LRANGE", LOG_KEY, 0, -1]]))[0].map((s) => JSON.parse(s).email_id),
    );
  await eventually(
    async () => {
      const logged = await redisIds();
      return ids.every((id) => logged.has(id));
    },
    { what: "first half logged in Redis" },
  );
  const before = (await upstash.redis([["LLEN", LOG_KEY]]))[0];

  await redis.stop();
  // /health reuses what it found for 5 s (it does not call Upstash on every hit).
  await eventually(async () => (await w.api("/health")).json.redis === "unavailable", {
    what: "/health sees the outage",
  });
  for (let i = n / 2; i < n; i++) await pushOne(i);
  await eventually(
    () => ids.every((id) => rec.requests.some((r) => r.json?.microsoft_graph_email_id === id)),
    { what: "second half delivered during the outage", timeoutMs: 60_000 },
  );
  // Both halves readable while Redis is down (the second half from KV).
  await eventually(
    async () => {
      const logs = await w.logs("status=success");
      return ids.slice(n / 2).every((id) => logs.some((l) => l.email_id === id));
    },
    { what: "outage-half logs in KV" },
  );

  await redis.start();
  await sleep(2_500); // the worker's circuit breaker retries Redis after its cool-down
  const logs = await w.logs("status=success");
  const missing = ids.filter((id) => !logs.some((l) => l.email_id === id));
  assert.deepEqual(missing, [], "every e-mail has its success log");
  const inRedis = await redisIds();
  assert.ok(before >= n / 2, "the first half was written to Redis");
  assert.ok(
    ids.slice(0, n / 2).every((id) => inRedis.has(id)),
    "the first half is in Redis",
  );
  assert.ok(
    ids.slice(n / 2).every((id) => !inRedis.has(id)),
    "entries written during the outage went to KV, not Redis",
  );
  assert.equal(upstash.stats.failures > 0, true, "the fixture saw the outage");
});

test("row 7: a sender outside the allowlist is skipped, marked processed and logged", async () => {
  const e = email({ sender: "Stranger <stranger@example.org>" });
  const r = await w.push(e);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, "skipped_sender_not_allowed");
  assert.equal((await w.push(e)).json.status, "already_processed", "marked processed");
  const skipped = await w.logs(`email_id=${r.json.email_id}`);
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0].status, "skipped");
  assert.equal(skipped[0].reason, "sender_not_allowed");
  assert.equal(
    (await w.push(email({ sender: "OTHER@example.com" }))).json.status,
    "queued",
    "exact lowercase match",
  );
});

async function duplicates(label) {
  const e = email({ subject: `${label} ${crypto.randomUUID()}` });
  const answers = await Promise.all(Array.from({ length: 50 }, () => w.push(e)));
  const statuses = answers.map((a) => a.json?.status ?? a.status);
  assert.equal(statuses.filter((s) => s === "queued").length, 1, statuses.join(","));
  const id = answers.find((a) => a.json.status === "queued").json.email_id;
  await eventually(() => rec.requests.some((r) => r.json?.microsoft_graph_email_id === id), {
    what: "the delivery",
  });
  await sleep(2_500);
  assert.equal(
    rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id).length,
    1,
    "exactly one delivery",
  );
  // Pushed again later: still one.
  assert.equal((await w.push(e)).json.status, "already_processed");
  return id;
}

test("50 concurrent duplicate pushes give exactly one delivery", async () => {
  await duplicates("dup-redis-up");
});

test("the same with Redis stopped: the Durable Object guard keeps exactly-once", async () => {
  await redis.stop();
  try {
    await duplicates("dup-redis-down");
  } finally {
    await redis.start();
  }
});

test("an e-mail accepted while Redis was down is still a duplicate once Redis is back", async () => {
  await redis.stop();
  const e = email({ subject: `across-outage ${crypto.randomUUID()}` });
  let id;
  try {
    const r = await w.push(e);
    assert.equal(r.json.status, "queued");
    id = r.json.email_id;
  } finally {
    await redis.start();
  }
  await sleep(2_500);
  assert.equal((await w.push(e)).json.status, "already_processed");
  const [inRedis] = await upstash.redis([["EXISTS", `r:ss:processed_email:${id}`]]);
  assert.equal(inRedis, 0, "Redis never saw it: the answer came from the Durable Object");
});
