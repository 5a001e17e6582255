// Issue 10.2: memory is measured, not hoped. Local workerd does not enforce the 128 MB isolate
// limit, so the worker reports its wasm memory (GET /api/runtime; wasm memory only grows, so
// its size is the isolate's high-water mark) after processing e-mails at the size limit, each
// delivered to two targets: a 25 MB ASCII body and a body of Hangul (NFD triples it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

/** The figure the worker must stay under (docs/flow.md, "Bounds"); the isolate limit is 128 MB. */
const BUDGET_BYTES = 64 * 1024 * 1024;
const LIMIT = 25_000_000; // max_email_size_mb = 25, in request bytes
const MAIN = "https://hooks.receiver.test/main";
const SECOND = "https://hooks.receiver.test/second";
let stack, rec, w;

before(async () => {
  stack = await startStack({
    vars: { WEBHOOK_URL: MAIN, ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true" },
  });
  ({ receiver: rec, worker: w } = stack);
  const rules = {
    rules: [
      {
        id: "all",
        name: "everyone",
        conditions: [{ field: "sender", operator: "contains", value: "@" }],
        actions: { webhook_url: SECOND, priority: "normal", stop_processing: false },
      },
    ],
  };
  assert.equal((await w.api("/api/routing_rules", { method: "PUT", body: rules })).status, 200);
});
after(() => stack?.stop());

/** An e-mail whose request body is just under the limit, its body made of `unit` repeated. */
function atTheLimit(unit, label) {
  const e = email({ subject: `${label} ${crypto.randomUUID()}`, body: "" });
  const frame = Buffer.byteLength(JSON.stringify(e)) + 64;
  const link = " https://www.dropbox.com/scl/fo/abc/def?rlkey=k&dl=0 ";
  const room = LIMIT - frame - link.length;
  const body = unit.repeat(Math.floor(room / Buffer.byteLength(unit))) + link;
  e.body = body;
  assert.ok(Buffer.byteLength(JSON.stringify(e)) <= LIMIT);
  return e;
}

async function memory() {
  return (await w.api("/api/runtime")).json.wasm_memory_bytes;
}

test(
  "a 25 MB ASCII e-mail and a Hangul body at the size limit, two targets each, stay under the memory budget",
  { timeout: 10 * 60_000 },
  async () => {
    const before = await memory();
    const figures = [`start ${(before / 2 ** 20).toFixed(1)} MiB`];
    for (const [unit, label] of [
      ["lorem ipsum dolor sit amet, ", "ascii"],
      ["한국어 ", "hangul"],
    ]) {
      const e = atTheLimit(unit, label);
      const r = await w.push(e);
      assert.equal(r.json?.status, "queued", r.text);
      const id = r.json.email_id;
      const got = await eventually(
        () => {
          const reqs = rec.requests.filter(
            (q) => q.path && q.json?.microsoft_graph_email_id === id,
          );
          return reqs.length >= 2 ? reqs : null;
        },
        { timeoutMs: 5 * 60_000, intervalMs: 500, what: `${label} delivered to both targets` },
      );
      assert.deepEqual(new Set(got.map((q) => q.path)), new Set(["/main", "/second"]));
      for (const q of got)
        assert.ok(q.json.email_content === e.body, `${label}: body delivered intact`);
      const high = await memory();
      figures.push(
        `${label} ${(Buffer.byteLength(JSON.stringify(e)) / 1e6).toFixed(1)} MB → high-water ${(high / 2 ** 20).toFixed(1)} MiB`,
      );
      assert.ok(
        high <= BUDGET_BYTES,
        `${label}: wasm memory ${high} over the ${BUDGET_BYTES} budget`,
      );
    }
    console.log(
      `# figures: wasm memory, ingest + processing + two deliveries each: ${figures.join("; ")} (budget ${BUDGET_BYTES / 2 ** 20} MiB)`,
    );
  },
);
