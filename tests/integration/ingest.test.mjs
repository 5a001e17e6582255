// SPEC §2: the ingest's answers, in order, through the real worker in workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email, asGuesser, PROCESS_TOKEN } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

let stack, rec, w;
before(async () => {
  stack = await startStack({
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/default",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

test("row 1: missing or wrong token is 401, checked before anything else", async () => {
  for (const auth of [null, "Bearer wrong", "Basic " + PROCESS_TOKEN, "wrong"]) {
    const r = await w.push(email(), { auth, headers: asGuesser() });
    assert.equal(r.status, 401, `auth=${auth}`);
    assert.equal(r.json.success, false);
    assert.equal(r.json.message, "Unauthorized");
  }
  const bad = await w.api("/api/ingress/gmail", {
    method: "POST",
    body: "not json",
    auth: "Bearer nope",
    headers: asGuesser(),
  });
  assert.equal(bad.status, 401, "auth comes before JSON validation");
  const bare = await w.push(email(), { auth: PROCESS_TOKEN });
  assert.equal(bare.status, 200, "a bare token without the scheme is accepted");
  assert.equal(bare.json.status, "queued");
});

/**
 * A request the worker refuses from its Content-Length, before reading the body. Local workerd
 * then closes the connection while the client may still be sending, and the client's kernel can
 * drop the answer with the reset (EPIPE, ECONNRESET); Cloudflare's edge buffers the request, so a
 * production client always reads the 413. The request is sent again (at most 3 times) until the
 * answer is read.
 */
async function refusedEarly(send) {
  for (let i = 1; ; i++) {
    try {
      return await send();
    } catch (e) {
      const reset = ["EPIPE", "ECONNRESET"].includes(e.code) || /socket hang up/.test(e.message);
      if (i === 3 || !reset) throw e;
    }
  }
}

test("row 2: a body over max_email_size_mb is 413, before JSON validation", async () => {
  assert.equal(
    (await w.api("/api/processing_prefs", { method: "PUT", body: { max_email_size_mb: 1 } }))
      .status,
    200,
  );
  try {
    const big = email({ body: "x".repeat(1_100_000) });
    const r = await refusedEarly(() => w.push(big));
    assert.equal(r.status, 413);
    assert.equal(r.json.success, false);
    assert.match(r.json.message, /exceeds the limit/);
    const bigInvalid = await refusedEarly(() =>
      w.api("/api/ingress/gmail", {
        method: "POST",
        body: "{" + "x".repeat(1_100_000),
        auth: `Bearer ${PROCESS_TOKEN}`,
      }),
    );
    assert.equal(bigInvalid.status, 413);
    const justUnder = await w.push(email({ body: "y".repeat(990_000) }));
    assert.equal(justUnder.status, 200);
  } finally {
    await w.api("/api/processing_prefs", { method: "PUT", body: { max_email_size_mb: null } });
  }
});

test("row 3: a body that is not a JSON object is 400 Invalid JSON payload", async () => {
  for (const body of ["not json", "[1,2]", '"str"', "42", "null", ""]) {
    const r = await w.api("/api/ingress/gmail", {
      method: "POST",
      body,
      auth: `Bearer ${PROCESS_TOKEN}`,
    });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.message, "Invalid JSON payload");
  }
});

test("row 4: sender then body are required non-empty strings", async () => {
  const cases = [
    [{ body: "x" }, "Missing field: sender"],
    [{ sender: "", body: "x" }, "Missing field: sender"],
    [{ sender: null, body: "x" }, "Missing field: sender"],
    [{}, "Missing field: sender"],
    [{ sender: "   ", body: "" }, "Missing field: body"], // a blank sender is not empty
    [{ sender: "a@b.c" }, "Missing field: body"],
    [{ sender: "a@b.c", body: "" }, "Missing field: body"],
  ];
  for (const [body, message] of cases) {
    const r = await w.push(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.message, message);
  }
  const wrongType = await w.push({ sender: 42, body: "x" });
  assert.equal(wrongType.status, 400);
  assert.match(wrongType.json.message, /sender.*a number/);
  const wrongBody = await w.push({ sender: "a@b.c", body: ["x"] });
  assert.match(wrongBody.json.message, /body.*an array/);
  const defaults = await w.push({
    sender: "defaults@example.com",
    body: "x",
    subject: 12,
    date: { x: 1 },
    snippet: "ignored",
  });
  assert.equal(defaults.status, 200, "subject/date of the wrong type default to empty strings");
});

test("row 4: a body or sender of only whitespace is a non-empty string, accepted and delivered as sent", async () => {
  const blankBody = email({ body: " \n\t\u00a0 " });
  const r = await w.push(blankBody);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, "queued");
  const req = await eventually(
    () => rec.requests.find((q) => q.json?.microsoft_graph_email_id === r.json.email_id),
    { what: "the webhook" },
  );
  assert.equal(req.json.email_content, blankBody.body);
  assert.equal(req.json.bodyPreview, blankBody.body);

  const blankSender = {
    subject: `blank sender ${Date.now()}`,
    sender: "  ",
    body: "x",
    date: "2026-01-01T00:00:00Z",
  };
  const s = await w.push(blankSender);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.status, "queued");
  const expectedId = crypto
    .createHash("md5")
    .update(`${blankSender.subject}||${blankSender.date}`)
    .digest("hex");
  assert.equal(s.json.email_id, expectedId, "sender_email is empty");
  const dry = await w.api("/api/test/dry_run", {
    method: "POST",
    body: { sender: "a@b.c", body: "   " },
  });
  assert.equal(dry.status, 200, "the dry run validates the same way");
});

test("row 5: ingress disabled is 409, after field validation", async () => {
  assert.equal(
    (await w.api("/api/runtime_flags", { method: "PUT", body: { gmail_ingress_enabled: false } }))
      .status,
    200,
  );
  try {
    const r = await w.push(email());
    assert.equal(r.status, 409);
    assert.equal(r.json.message, "Gmail ingress disabled");
    const invalid = await w.push({ body: "x" });
    assert.equal(invalid.status, 400, "validation (row 4) comes before the flag (row 5)");
  } finally {
    await w.api("/api/runtime_flags", { method: "PUT", body: { gmail_ingress_enabled: true } });
  }
});

test("rows 6 and 10: queued once, then already_processed, with the SPEC email_id", async () => {
  const e = {
    subject: "Hello",
    sender: "sender@example.com",
    body: "<p>hi</p>",
    date: "2026-01-01T00:00:00Z",
  };
  const first = await w.push(e);
  assert.equal(first.status, 200);
  assert.deepEqual(
    { ...first.json, code: undefined },
    {
      success: true,
      status: "queued",
      email_id: "ef626f4a3197550e73b6e5a1b3cdc39e",
      code: undefined,
    },
  );
  const again = await w.push({ ...e, sender: "Someone <SENDER@example.com>" });
  assert.equal(
    again.json.status,
    "already_processed",
    "same subject|sender_email|date is the same e-mail",
  );
  assert.equal(again.json.email_id, "ef626f4a3197550e73b6e5a1b3cdc39e");
  await eventually(
    () =>
      rec.requests.find(
        (r) => r.json?.microsoft_graph_email_id === "ef626f4a3197550e73b6e5a1b3cdc39e",
      ),
    { what: "the webhook" },
  );
});

test("row 6 comes before the sending switch (row 8): a processed e-mail is not refused", async () => {
  const e = email();
  assert.equal((await w.push(e)).json.status, "queued");
  await w.api("/api/runtime_flags", { method: "PUT", body: { webhook_sending_enabled: false } });
  try {
    assert.equal((await w.push(e)).json.status, "already_processed");
    const fresh = await w.push(email());
    assert.equal(fresh.status, 409);
    assert.equal(fresh.json.message, "Webhook sending disabled");
  } finally {
    await w.api("/api/runtime_flags", { method: "PUT", body: { webhook_sending_enabled: true } });
  }
});

test("row 8: global absence today is 409 and leaves the e-mail unprocessed", async () => {
  const all = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  await w.api("/api/webhook_config", {
    method: "PUT",
    body: { absence_pause_enabled: true, absence_pause_days: all },
  });
  const e = email();
  try {
    const r = await w.push(e);
    assert.equal(r.status, 409);
    assert.equal(r.json.message, "Webhook sending disabled");
    assert.equal(r.json.code, "absence_pause");
  } finally {
    await w.api("/api/webhook_config", { method: "PUT", body: { absence_pause_enabled: false } });
  }
  assert.equal(
    (await w.push(e)).json.status,
    "queued",
    "the refused e-mail is accepted once the absence ends",
  );
  const blocked = await w.logs(`email_id=${(await w.push(e)).json.email_id}&status=blocked`);
  assert.equal(blocked.length, 1, "the block is in the delivery log");
  assert.equal(blocked[0].reason, "absence");
});

test("row 9: concurrent pushes of one e-mail give one queued, the rest in flight or processed", async () => {
  const e = email();
  const answers = await Promise.all(Array.from({ length: 30 }, () => w.push(e)));
  const statuses = answers.map((a) => a.json.status);
  assert.equal(statuses.filter((s) => s === "queued").length, 1, statuses.join(","));
  assert.ok(
    statuses.every((s) => ["queued", "already_processing", "already_processed"].includes(s)),
    statuses.join(","),
  );
  const id = answers[0].json.email_id;
  await eventually(
    () => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id).length === 1,
    { what: "one webhook" },
  );
});

test("wrong method is 405 and unknown path 404, both JSON", async () => {
  const get = await w.api("/api/ingress/gmail", { auth: `Bearer ${PROCESS_TOKEN}` });
  assert.equal(get.status, 405);
  assert.equal(get.json.code, "method_not_allowed");
  const del = await w.api("/api/webhook_config", { method: "DELETE" });
  assert.equal(del.status, 405);
  const unknown = await w.api("/api/nope");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.code, "not_found");
  assert.equal((await w.api("/nope")).status, 404);
  const root = await w.api("/", { auth: null });
  assert.equal(root.status, 303, "/ is the console: a visitor is sent to its sign-in page");
  assert.equal(root.headers.get("location"), "/login");
});

test("admin endpoints need the admin token and validate their query", async () => {
  assert.equal((await w.api("/api/webhook_logs", { auth: null })).status, 401);
  assert.equal(
    (await w.api("/api/webhook_logs", { auth: `Bearer ${PROCESS_TOKEN}`, headers: asGuesser() }))
      .status,
    401,
    "the ingest token is not an admin token",
  );
  for (const [q, param] of [
    ["days=abc", "days"],
    ["days=0", "days"],
    ["days=31", "days"],
    ["status=bogus", "status"],
    ["limit=0", "limit"],
    ["limit=x", "limit"],
  ]) {
    const r = await w.api(`/api/webhook_logs?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.json.code, "invalid_query");
    assert.ok(r.json.message.includes(`'${param}'`), r.json.message);
  }
  const bad = await w.api("/api/processing_prefs", { method: "PUT", body: "{not json" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, "Invalid JSON payload");
});

test("health answers without auth", async () => {
  const r = await w.api("/health", { auth: null });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, "ok");
  assert.equal(r.json.redis, "not_configured");
});
