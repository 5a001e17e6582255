// Gmail push → webhook latency of the real worker in local workerd (Miniflare API), against the
// fake Google of tests/harness/google.mjs (its Pub/Sub pusher signs real RS256 tokens, its Gmail
// API serves the messages) and a receiver on the loopback test network. Prints:
//   trickle  one message every 200 ms: the push sent → the webhook at the receiver, p50 / p99 / max,
//            and the push's own answer time (token verified, hint stored)
//   burst    50 messages arriving at once, one push each, all sent together: the last webhook
//            after the last push (the mailbox takes 8 messages a pass, one pass at a time)
// What it leaves out: Gmail's own delay between a message's arrival and the push (seconds, see
// docs/gmail.md), and the network between Google, Cloudflare and the receiver.
// Usage: node bench/gmail.mjs [trickle-count=100] [burst-count=50]
import crypto from "node:crypto";
import { startWorker } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";
import { startReceiver } from "../tests/harness/receiver.mjs";
import { eventually, sleep } from "../tests/harness/ports.mjs";
import { startGoogle, connectGmail, rfc822, GMAIL_VARS } from "../tests/harness/google.mjs";

const TRICKLE = Number(process.argv[2] ?? 100);
const BURST = Number(process.argv[3] ?? 50);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const net = await startNetwork();
const rec = startReceiver(net);
const google = startGoogle(net);
const w = await startWorker({
  network: net,
  vars: {
    ...GMAIL_VARS,
    WEBHOOK_URL: "https://hooks.receiver.test/gmail",
    ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
  },
});
const arrival = (subject) => rec.requests.find((r) => r.json?.subject === subject)?.at;

async function one(tag) {
  const subject = `${tag} ${crypto.randomUUID()}`;
  const m = google.deliver(rfc822({ subject, html: "<p>bench</p>" }));
  const t0 = Date.now();
  const r = await google.pushNotification(w, { historyId: m.historyId });
  if (r.status !== 200) throw new Error(`push answered ${r.status} ${r.text}`);
  return { subject, t0, answered: Date.now() - t0 };
}

try {
  const connected = await connectGmail(w, google);
  if (connected.headers.get("refresh") !== "0;url=/gmail?connected=1")
    throw new Error(`not connected: ${connected.text}`);
  // Warm the isolate and the mailbox's object (wasm compilation, Google's keys, first queue batch).
  for (let i = 0; i < 5; i++) {
    const { subject } = await one("warm");
    await eventually(() => arrival(subject), { what: "warm-up" });
  }

  const latencies = [];
  const answers = [];
  for (let i = 0; i < TRICKLE; i++) {
    const { subject, t0, answered } = await one("trickle");
    answers.push(answered);
    latencies.push(
      eventually(() => arrival(subject), { intervalMs: 2, what: "trickle webhook" }).then(
        (at) => at - t0,
      ),
    );
    await sleep(Math.max(0, 200 - (Date.now() - t0)));
  }
  const lat = await Promise.all(latencies);
  console.log(
    `trickle: ${TRICKLE} messages, one every 200 ms, Gmail push sent → webhook at the receiver: ` +
      `p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms (goal p50 <= 50, p99 <= 250); ` +
      `push answered p50 ${pct(answers, 50)} ms, p99 ${pct(answers, 99)} ms`,
  );

  const subjects = [];
  const ms = [];
  for (let i = 0; i < BURST; i++) {
    const subject = `burst ${crypto.randomUUID()}`;
    subjects.push(subject);
    ms.push(google.deliver(rfc822({ subject, text: "burst" })));
  }
  const started = Date.now();
  await Promise.all(ms.map((m) => google.pushNotification(w, { historyId: m.historyId })));
  const lastPush = Date.now();
  await eventually(() => subjects.every(arrival), {
    timeoutMs: 120_000,
    intervalMs: 10,
    what: `${BURST} webhooks`,
  });
  const last = Math.max(...subjects.map(arrival));
  console.log(
    `burst: ${BURST} messages at once, ${BURST} pushes sent in ${lastPush - started} ms; ` +
      `last webhook ${((last - lastPush) / 1000).toFixed(2)} s after the last push ` +
      `(${google.count("history.list")} history.list and ${google.count("messages.get:raw")} messages.get calls in the whole run)`,
  );
} finally {
  await w.stop();
  await net.stop();
}
