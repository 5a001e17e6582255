// End to end: seconds from the first push to the last webhook received, for N e-mails pushed by
// 16 concurrent clients, on the embedded defaults (KV, no Redis) or with Redis (--redis).
// Usage: node bench/e2e.mjs [N] [--redis]
import crypto from "node:crypto";
import { startWorker, email } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";
import { startReceiver } from "../tests/harness/receiver.mjs";
import { startRedis } from "../tests/harness/redis.mjs";
import { startUpstash } from "../tests/harness/upstash.mjs";
import { eventually } from "../tests/harness/ports.mjs";

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 2000);
const withRedis = process.argv.includes("--redis");
const net = await startNetwork();
const rec = startReceiver(net);
let redis, upstash;
const vars = {
  WEBHOOK_URL: "https://hooks.receiver.test/e2e",
  ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
};
if (withRedis) {
  redis = await startRedis();
  upstash = startUpstash({ network: net, redisPort: redis.port });
  Object.assign(vars, {
    UPSTASH_REDIS_REST_URL: upstash.url,
    UPSTASH_REDIS_REST_TOKEN: upstash.token,
    WEBHOOK_LOG_MAX_ENTRIES: String(N * 2),
  });
}
const w = await startWorker({ network: net, vars });
try {
  const started = Date.now();
  let next = 0;
  const client = async () => {
    while (next < N) {
      next++;
      const r = await w.push(email({ subject: `e2e ${crypto.randomUUID()}` }));
      if (r.json?.status !== "queued") throw new Error(`push answered ${r.status} ${r.text}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, client));
  const pushed = Date.now() - started;
  await eventually(() => rec.requests.length >= N, {
    timeoutMs: 15 * 60_000,
    intervalMs: 200,
    what: `${N} webhooks`,
  });
  const last = Math.max(...rec.requests.map((r) => r.at));
  console.log(
    `${N} e-mails (${withRedis ? "Redis + KV" : "KV only, embedded defaults"}): pushed in ${(pushed / 1000).toFixed(1)} s; first push to last webhook ${((last - started) / 1000).toFixed(1)} s (${(N / ((last - started) / 1000)).toFixed(0)} e-mails/s end to end)`,
  );
} finally {
  await w.stop();
  upstash?.stop();
  await redis?.destroy();
  await net.stop();
}
