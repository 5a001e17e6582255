// Erasure (issue #13): DELETE /api/senders/<address> and DELETE /api/emails/<id> remove what
// every store holds about the e-mails (the delivery log in Redis, the journal and KV, archive
// records and bodies in the journal and KV, dead letters, spilled parts, R2 copies and link
// pairs; a sender's e-mails are found by the sender key their records carry), answer what was
// removed, and leave an audit entry without personal data. Redis, KV and R2 are then read
// directly, the journal through its own calls, not only through the API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email, asGuesser } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const HOOK = "https://hooks.receiver.test/erasure";
const JANE = "Jane Doe <Jane@Example.com>";
const BOB = "Bob <bob@example.com>";
let stack, w, rec, files, upstash, kv, bucket;
const plan = (r) =>
  (r.json?.subject ?? "").includes("[fails]") ? { status: 404 } : { status: 200 };

before(async () => {
  stack = await startStack({
    redis: true,
    r2: true,
    plan,
    vars: {
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_COUNT: "0",
      REDIS_TIMEOUT_MS: "500",
    },
    r2Vars: { R2_PUBLIC_BASE_URL: "https://media.test" },
  });
  ({ worker: w, receiver: rec, files, upstash } = stack);
  kv = await w.mf.getKVNamespace("FACTEUR_KV");
  bucket = await w.mf.getR2Bucket("MEDIA_BUCKET", "facteur-r2-fetch");
  await setTarget(HOOK);
});
after(() => stack?.stop());

const setTarget = async (url) =>
  assert.equal(
    (await w.api("/api/webhook_config", { method: "PUT", body: { webhook_url: url } })).status,
    200,
  );
const received = (id) => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id);
/** One call to the journal object, as the worker makes it (src/adapters/journal.rs). */
async function journal(call) {
  const ns = await w.mf.getDurableObjectNamespace("JOURNAL");
  const stub = ns.get(ns.idFromName("journal"));
  const res = await stub.fetch("https://journal.internal/", {
    method: "POST",
    body: JSON.stringify({ call, now_ms: Date.now() }),
  });
  assert.equal(res.status, 200);
  return res.json();
}
const byEmail = (id) => ({ days: 7, email_id: id, limit: 100, offset: 0 });
const sha256 = (s) => crypto.createHash("sha256").update(s).digest("hex");

async function push(sender, subject, body = "<p>Bonjour</p>") {
  const r = await w.push(email({ sender, subject: `${subject} ${crypto.randomUUID()}`, body }));
  assert.equal(r.json.status, "queued", r.text);
  return r.json.email_id;
}
const finalLog = (id) =>
  eventually(
    async () =>
      (await w.logs(`email_id=${id}`)).find((l) => ["success", "error"].includes(l.status)),
    { what: `final log of ${id}`, timeoutMs: 60_000 },
  );

/** Every KV key with its value and metadata. */
async function kvDump() {
  const out = [];
  let cursor;
  do {
    const page = await kv.list({ cursor });
    for (const k of page.keys)
      out.push({
        name: k.name,
        metadata: JSON.stringify(k.metadata ?? null),
        value: (await kv.get(k.name)) ?? "",
      });
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out;
}

/** Every Redis key with its value (strings and lists). */
async function redisDump() {
  const [keys] = await upstash.redis([["KEYS", "*"]]);
  const out = [];
  for (const key of keys) {
    const [type] = await upstash.redis([["TYPE", key]]);
    const [value] = await upstash.redis([type === "list" ? ["LRANGE", key, 0, -1] : ["GET", key]]);
    out.push({ name: key, value: JSON.stringify(value) });
  }
  return out;
}

// Keys that may keep an e-mail id in their name: the dedup markers (SPEC §2), which hold
// nothing else, so a re-push is still refused.
const MARKER = /^r:ss:(processed_email|inflight_email|blocked_logged):/;

test(
  "erasing a sender leaves nothing about it in Redis, KV or R2; its dedup markers stay",
  { timeout: 180_000 },
  async () => {
    files.serve("https://www.dropbox.com/s/jane1/photo.jpg", {
      size: 1000,
      contentType: "image/jpeg",
    });
    files.serve("https://www.dropbox.com/s/jane2/scan.pdf", {
      size: 2000,
      contentType: "application/pdf",
    });
    files.serve("https://www.dropbox.com/s/bob1/bob.zip", {
      size: 1500,
      contentType: "application/zip",
    });
    const jane = [];
    jane.push(await push(JANE, "linked", "<p>https://www.dropbox.com/s/jane1/photo.jpg?dl=0</p>"));
    // Large: spilled to KV (blob:email:<id>) on the way to the processing queue.
    jane.push(
      await push(
        JANE,
        "large",
        `<p>https://www.dropbox.com/s/jane2/scan.pdf?dl=0</p>${"é".repeat(60_000)}`,
      ),
    );
    jane.push(await push(JANE, "[fails]"));
    const bob = await push(BOB, "bob's", "<p>https://www.dropbox.com/s/bob1/bob.zip?dl=0</p>");
    for (const id of [...jane, bob]) await finalLog(id);
    // With Redis down the log goes to KV.
    await stack.redis.stop();
    try {
      jane.push(await push(JANE, "during the outage"));
      await eventually(
        async () =>
          (await kv.list({ prefix: "log:" })).keys.some(
            (k) => k.metadata?.email_id === jane[3] && k.metadata?.status === "success",
          ),
        { what: "a log entry in KV" },
      );
    } finally {
      await stack.redis.start();
    }
    // Redis is skipped for a moment after a failure (the circuit breaker): wait until it is used again.
    await eventually(async () => (await w.api("/health")).json.redis === "ok", {
      what: "redis back",
    });
    // No target at all: the e-mail is kept whole in a dead letter (dead:email_<id>).
    await setTarget(null);
    try {
      jane.push(await push(JANE, "no target"));
      await eventually(async () => (await kv.get(`dead:email_${jane[4]}`)) !== null, {
        what: "the e-mail's dead letter",
      });
    } finally {
      await setTarget(HOOK);
    }
    const r2Url = (id) => received(id)[0].json.delivery_links[0].r2_url;
    const janeObjects = [r2Url(jane[0]), r2Url(jane[1])].map((u) =>
      decodeURI(u.replace("https://media.test/", "")),
    );
    const bobObject = decodeURI(r2Url(bob).replace("https://media.test/", ""));
    assert.ok(janeObjects.every(Boolean) && bobObject, "links were copied to R2");
    for (const key of [...janeObjects, bobObject]) assert.ok(await bucket.head(key), key);
    assert.ok(await kv.get(`blob:email:${jane[1]}`), "the large e-mail was spilled");

    const res = await w.api(`/api/senders/${encodeURIComponent("JANE@example.com")}`, {
      method: "DELETE",
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.success, true);
    assert.equal(res.json.emails, 5);
    assert.equal(res.json.more, false);
    const removed = res.json.removed;
    assert.ok(removed.log_entries >= 5, JSON.stringify(removed));
    assert.deepEqual(
      { ...removed, log_entries: 0 },
      {
        log_entries: 0,
        archives: 8,
        bodies: 4,
        dead_letters: 2,
        spilled: 1,
        r2_objects: 2,
        link_pairs: 2,
        parked: 0,
      },
    );
    assert.ok(!res.text.toLowerCase().includes("jane"), "the answer names nobody");

    // Redis, read directly: no value mentions her or her e-mails; only markers carry an id.
    const needles = ["jane@example.com", "Jane Doe", ...jane];
    for (const { name, value } of await redisDump()) {
      for (const n of needles) assert.ok(!value.includes(n), `redis ${name} still holds ${n}`);
      if (jane.some((id) => name.includes(id))) assert.match(name, MARKER, name);
    }
    // KV, read directly: neither names, values nor metadata.
    for (const { name, value, metadata } of await kvDump()) {
      for (const n of needles) {
        assert.ok(
          !name.includes(n) && !value.includes(n) && !metadata.includes(n),
          `kv ${name} still holds ${n}`,
        );
      }
    }
    // R2: her copies are gone, Bob's is still there.
    for (const key of janeObjects) assert.equal(await bucket.head(key), null, key);
    assert.ok(await bucket.head(bobObject));
    // Through the API too.
    for (const id of jane) assert.deepEqual(await w.logs(`email_id=${id}`), []);
    const dead = (await w.api("/api/dead_letters")).json.dead_letters;
    assert.ok(!dead.some((d) => jane.includes(d.email_id)));
    // The journal, asked directly: nothing of hers (log, archive records, bodies).
    for (const id of jane) {
      assert.equal((await journal({ op: "email", email_id: id })).email, null, id);
      assert.deepEqual(
        (await journal({ op: "recent", query: byEmail(id), now_ms: Date.now() })).entries,
        [],
      );
    }
    // Bob is untouched.
    assert.ok((await journal({ op: "email", email_id: bob })).email, "Bob's archive record");
    assert.ok((await w.logs(`email_id=${bob}`)).length >= 1);
    // The dedup markers stay: the same e-mail pushed again is still not delivered twice.
    const first = received(jane[0])[0].json;
    const again = await w.push({
      subject: first.subject,
      sender: JANE,
      body: first.email_content,
      date: first.receivedDateTime,
    });
    assert.equal(again.json.status, "already_processed");

    // The audit keeps who, when, what: counts and a truncated hash, never the address.
    const audit = await w.api("/api/audit?limit=5");
    assert.equal(audit.status, 200);
    const [entry] = audit.json.entries;
    assert.equal(entry.who, "admin token");
    assert.equal(entry.action, "erasure");
    assert.equal(entry.from, "127.0.0.1", "the client's address (CF-Connecting-IP)");
    assert.equal(entry.details.kind, "sender");
    assert.equal(entry.details.subject_hash, sha256("sender:jane@example.com").slice(0, 12));
    assert.deepEqual(entry.details.removed, removed);
    assert.equal(entry.details.complete, true);
    assert.ok(Math.abs(Date.parse(entry.when) - Date.now()) < 600_000);
    assert.ok(!audit.text.toLowerCase().includes("jane"));

    // Run again: nothing is left to remove.
    const twice = await w.api(`/api/senders/${encodeURIComponent(JANE)}`, { method: "DELETE" });
    assert.equal(twice.status, 200);
    assert.ok(
      Object.values(twice.json.removed).every((n) => n === 0),
      twice.text,
    );
  },
);

test("erasing one e-mail by id, and refusals", async () => {
  const keep = await push(BOB, "kept");
  const gone = await push(BOB, "erased");
  await finalLog(keep);
  const log = await finalLog(gone);
  const res = await w.api(`/api/emails/${gone.toUpperCase()}`, { method: "DELETE" });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.kind, "email");
  assert.equal(res.json.removed.archives, 2);
  assert.equal(res.json.removed.bodies, 1);
  assert.equal(
    res.json.removed.index,
    undefined,
    "no sender index: the record carries the sender key",
  );
  assert.ok(res.json.removed.log_entries >= 1);
  const archived = await journal({ op: "deliveries", delivery_ids: [log.delivery_id] });
  assert.deepEqual(archived.deliveries, [null]);
  assert.equal((await journal({ op: "email", email_id: gone })).email, null);
  assert.deepEqual(await w.logs(`email_id=${gone}`), []);
  assert.ok(
    (await journal({ op: "email", email_id: keep })).email,
    "another e-mail of the same sender stays",
  );
  const [entry] = (await w.api("/api/audit")).json.entries;
  assert.equal(entry.details.kind, "email");
  assert.equal(entry.details.subject_hash, sha256(`email:${gone}`).slice(0, 12));

  for (const bad of ["nope", "0123", "zz26f4a3197550e73b6e5a1b3cdc39ee"]) {
    const r = await w.api(`/api/emails/${bad}`, { method: "DELETE" });
    assert.equal(r.status, 400, bad);
    assert.match(r.json.message, /email_id/);
  }
  assert.equal((await w.api("/api/senders/%20", { method: "DELETE" })).status, 400);
  assert.equal((await w.api(`/api/emails/${keep}`, { method: "PUT" })).status, 405);
  assert.equal(
    (await w.api(`/api/emails/${keep}`)).status,
    200,
    "GET is the e-mail's timeline (the console's)",
  );
  assert.equal(
    (
      await w.api(`/api/emails/${keep}`, {
        method: "DELETE",
        auth: "Bearer nope",
        headers: asGuesser(),
      })
    ).status,
    401,
  );
  assert.equal((await w.api("/api/audit?limit=0")).status, 400);
  assert.ok(
    (await journal({ op: "email", email_id: keep })).email,
    "refused requests erased nothing",
  );
});
