// Ingest throughput and latency of the real worker in local workerd (Miniflare API), against
// a trivial Rust worker that only answers 200 and a "floor" worker that does only what any
// durable exactly-once ingest must (one Durable Object call with a storage write, one queue
// send; bench/floor-worker), all driven by wrk at 16 connections.
// Prints requests/s, p50 and p99, and the ratios. Usage: node bench/ingest.mjs [seconds]
import { execFileSync } from "node:child_process";
import path from "node:path";
import { Miniflare } from "miniflare";
import { startWorker, workerOptions, ROOT } from "../tests/harness/worker.mjs";
import { startNetwork } from "../tests/harness/network.mjs";
import { startReceiver } from "../tests/harness/receiver.mjs";

const SECONDS = Number(process.argv[2] ?? 15);
const TOKEN = "bench-process-token";

function wrk(url, script) {
  const args = ["-t1", "-c16", `-d${SECONDS}s`, "--latency", "--timeout", "10s"];
  if (script) args.push("-s", script);
  args.push(url);
  const out = execFileSync("wrk", args, {
    env: { ...process.env, FACTEUR_BENCH_TOKEN: TOKEN },
    encoding: "utf8",
  });
  const num = (re) => {
    const m = out.match(re);
    return m ? m[1] : null;
  };
  const ms = (s) =>
    s.endsWith("us")
      ? parseFloat(s) / 1000
      : s.endsWith("ms")
        ? parseFloat(s)
        : parseFloat(s) * 1000;
  return {
    rps: parseFloat(num(/Requests\/sec:\s+([\d.]+)/)),
    p50: ms(num(/50%\s+([\d.]+\w+)/)),
    p99: ms(num(/99%\s+([\d.]+\w+)/)),
    non2xx: Number(num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0),
    errors: num(/Socket errors:(.*)/),
  };
}

const net = await startNetwork();
const rec = startReceiver(net);
const real = await startWorker({
  network: net,
  vars: {
    PROCESS_API_TOKEN: TOKEN,
    WEBHOOK_URL: "https://hooks.receiver.test/bench",
    ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
  },
});
const trivialMf = new Miniflare({
  ...workerOptions("bench/trivial-worker"),
  host: "127.0.0.1",
  port: 0,
});
const trivialUrl = (await trivialMf.ready).toString();
const floorMf = new Miniflare({
  ...workerOptions("bench/floor-worker"),
  host: "127.0.0.1",
  port: 0,
});
const floorUrl = (await floorMf.ready).toString();

try {
  const script = path.join(ROOT, "bench/ingest.lua");
  // Warm both isolates (wasm compilation, first queue batches).
  execFileSync("wrk", ["-t1", "-c16", "-d2s", "-s", script, real.url + "/api/ingress/gmail"], {
    env: { ...process.env, FACTEUR_BENCH_TOKEN: TOKEN },
  });
  execFileSync("wrk", ["-t1", "-c16", "-d2s", trivialUrl]);
  execFileSync("wrk", ["-t1", "-c16", "-d2s", "-s", script, floorUrl], {
    env: { ...process.env, FACTEUR_BENCH_TOKEN: TOKEN },
  });
  const t = wrk(trivialUrl);
  const f = wrk(floorUrl, script);
  const r = wrk(real.url + "/api/ingress/gmail", script);
  const row = (name, x) =>
    `${name.padEnd(26)} ${x.rps.toFixed(0).padStart(7)} req/s   p50 ${x.p50.toFixed(2).padStart(6)} ms   p99 ${x.p99.toFixed(2).padStart(7)} ms   non-2xx ${x.non2xx}`;
  console.log(`wrk -t1 -c16 -d${SECONDS}s, local workerd through the Miniflare API`);
  console.log(row("trivial Rust worker (200)", t));
  console.log(row("floor (DO write + queue)", f));
  console.log(row("facteur ingest (queued)", r));
  console.log(
    `ratio ingest / trivial: ${(r.rps / t.rps).toFixed(2)} (goal >= 0.3)   ingest / floor: ${(r.rps / f.rps).toFixed(2)} (goal >= 0.8)   floor / trivial: ${(f.rps / t.rps).toFixed(2)}`,
  );
  console.log(`ingest p99 / p50: ${(r.p99 / r.p50).toFixed(1)} (goal <= 4)`);
  console.log(`webhooks received during the run: ${rec.requests.length}`);
} finally {
  await trivialMf.dispose();
  await floorMf.dispose();
  await real.stop();
  await net.stop();
}
