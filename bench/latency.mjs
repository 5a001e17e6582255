// Push → webhook latency of the real worker in local workerd (Miniflare API), receiver on the
// loopback test network. Prints:
//   trickle  one e-mail every 200 ms (the real workload): push → webhook p50 / p99 / max
//   burst    500 e-mails pushed by 8 clients: last webhook after the last push
//   slow     the same burst with a receiver answering in 200 ms
// Usage: node bench/latency.mjs [trickle-count=150] [burst-count=500]
import crypto from "node:crypto";
import { startWorker, email } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";
import { startReceiver } from "../tests/harness/receiver.mjs";
import { eventually, sleep } from "../tests/harness/ports.mjs";

const TRICKLE = Number(process.argv[2] ?? 150);
const BURST = Number(process.argv[3] ?? 500);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const net = await startNetwork();
const rec = startReceiver(net);
const w = await startWorker({
  network: net,
  vars: {
    WEBHOOK_URL: "https://hooks.receiver.test/latency",
    ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
  },
});
const arrival = (id) => rec.requests.find((r) => r.json?.microsoft_graph_email_id === id)?.at;

async function push(tag) {
  const r = await w.push(email({ subject: `${tag} ${crypto.randomUUID()}` }));
  if (r.json?.status !== "queued") throw new Error(`push answered ${r.status} ${r.text}`);
  return r.json.email_id;
}

async function burst(n, clients, tag) {
  rec.clear();
  const ids = [];
  let next = 0;
  const client = async () => {
    while (next < n) {
      next++;
      ids.push(await push(tag));
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: clients }, client));
  const lastPush = Date.now();
  await eventually(() => ids.every(arrival), {
    timeoutMs: 10 * 60_000,
    intervalMs: 20,
    what: `${n} webhooks`,
  });
  const last = Math.max(...ids.map(arrival));
  return { pushedIn: lastPush - started, afterLastPush: last - lastPush };
}

try {
  // Warm the isolate (wasm compilation, first queue batches, config cache).
  for (let i = 0; i < 5; i++) {
    const id = await push("warm");
    await eventually(() => arrival(id), { what: "warm-up" });
  }

  const latencies = [];
  const pushRtt = [];
  for (let i = 0; i < TRICKLE; i++) {
    const t0 = Date.now();
    const id = await push("trickle");
    pushRtt.push(Date.now() - t0);
    latencies.push(
      eventually(() => arrival(id), { intervalMs: 2, what: "trickle webhook" }).then(
        (at) => at - t0,
      ),
    );
    await sleep(Math.max(0, 200 - (Date.now() - t0)));
  }
  const lat = await Promise.all(latencies);
  console.log(
    `trickle: ${TRICKLE} e-mails, one every 200 ms, push → webhook at the receiver: ` +
      `p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms (goal p50 <= 50, p99 <= 250); ` +
      `ingest answer p50 ${pct(pushRtt, 50)} ms`,
  );

  const b = await burst(BURST, 8, "burst");
  console.log(
    `burst: ${BURST} e-mails by 8 clients, pushed in ${(b.pushedIn / 1000).toFixed(2)} s; ` +
      `last webhook ${(b.afterLastPush / 1000).toFixed(2)} s after the last push (goal <= 1 s)`,
  );

  rec.setPlan(() => ({ delayMs: 200 }));
  const s = await burst(BURST, 8, "slow");
  console.log(
    `slow receiver (200 ms per answer): ${BURST} e-mails by 8 clients, pushed in ${(s.pushedIn / 1000).toFixed(2)} s; ` +
      `last webhook ${(s.afterLastPush / 1000).toFixed(2)} s after the last push`,
  );
} finally {
  await w.stop();
  await net.stop();
}
