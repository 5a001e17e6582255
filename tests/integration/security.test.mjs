// Issue 19, "nobody gets in by guessing, and every change leaves a trace" (docs/security.md),
// in workerd: guessing on each credential path (admin bearer token, ingest token, console
// password) meets a 429 within a few attempts while the right credential from another client
// still works; forged, tampered, expired, planted and old-name cookies open nothing; a cookie
// write without the console's Origin is refused; weak secrets are refused at load; a flood
// spends the global budget, raises the alert and is summarised once in the audit; every change
// leaves its audit entry; replays stay within each target's budget; every API answer is
// `no-store`, every response HSTS; the local receiver answers loopback hosts only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { spawn } from "node:child_process";
import {
  startWorker,
  email,
  request,
  ADMIN_TOKEN,
  PROCESS_TOKEN,
  ROOT,
} from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually, freePort, waitForPort } from "../harness/ports.mjs";

let stack, rec, w;
before(async () => {
  stack = await startStack({
    receiverHosts: ["hooks.receiver.test", "alerts.receiver.test"],
    plan: (r) => ({ status: r.json?.subject?.includes("[404]") ? 404 : 200 }),
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/hook/s3cret-path",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      // A burst of failures ends after 2 quiet seconds here (10 minutes by default).
      AUTH_BURST_QUIET_SECS: "2",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

/** One request on its own connection, from client address `ip` (CF-Connecting-IP). */
function call(worker, pathname, { method = "GET", headers = {}, body, ip, auth } = {}) {
  const h = { ...headers };
  if (ip) h["CF-Connecting-IP"] = ip;
  if (auth) h.Authorization = auth;
  if (body !== undefined && typeof body !== "string") {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  return request(worker.url + pathname, { method, headers: h, body });
}

const admin = (ip, token = ADMIN_TOKEN, worker = w) =>
  call(worker, "/api/runtime", { ip, auth: `Bearer ${token}` });
const ingest = (ip, token = PROCESS_TOKEN, worker = w) =>
  call(worker, "/api/ingress/gmail", {
    method: "POST",
    ip,
    auth: `Bearer ${token}`,
    body: email({ subject: `guess ${crypto.randomUUID()}` }),
  });
const signIn = (ip, password = ADMIN_TOKEN, worker = w) =>
  call(worker, "/api/session", {
    method: "POST",
    ip,
    headers: { Origin: worker.url },
    body: { password },
  });
const cookieOf = (res) => res.headers.getSetCookie()[0].split(";")[0];

function assertLimited(res, what) {
  assert.equal(res.status, 429, `${what}: ${res.text}`);
  assert.equal(res.json.code, "too_many_attempts", what);
  const retry = Number(res.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 600, `${what}: Retry-After ${retry}`);
  assert.equal(res.json.retry_after_secs, retry, what);
  assert.equal(res.headers.getSetCookie().length, 0, `${what}: no session`);
}

// Wrong credentials presented in the guessing tests, to check the burst's summary.
let wrong = 0;

test("guessing on each credential path meets a 429 after 5 failures, the right credential too; another client still gets in", async () => {
  const paths = [
    ["admin bearer", admin, (r) => r.status === 200],
    ["ingest bearer", ingest, (r) => r.status === 200 && r.json.status === "queued"],
    ["sign-in", signIn, (r) => r.status === 200 && r.headers.getSetCookie().length === 1],
  ];
  for (const [i, [name, attempt, right]] of paths.entries()) {
    const guesser = `203.0.113.${10 + i}`;
    for (let n = 0; n < 5; n++) {
      const r = await attempt(guesser, `guess-${n}-${crypto.randomUUID()}`);
      wrong += 1;
      assert.equal(r.status, 401, `${name}: guess ${n + 1} is a plain 401`);
    }
    assertLimited(await attempt(guesser, "guess-6"), `${name}: guess 6`);
    wrong += 1;
    assertLimited(await attempt(guesser), `${name}: the right credential from the guesser`);
    assert.ok(right(await attempt(`198.51.100.${10 + i}`)), `${name}: another client gets in`);
  }
  // One count for the three paths: 2 + 2 wrong tokens and 1 wrong password, then any is 429.
  const mixed = "203.0.113.20";
  for (const attempt of [admin, admin, ingest, ingest, signIn]) {
    assert.equal((await attempt(mixed, "nope-nope-nope")).status, 401);
    wrong += 1;
  }
  assertLimited(await admin(mixed), "the admin token after failures on every path");
  // An IPv6 client is counted by its /64: another address of it is limited too.
  for (let n = 1; n <= 5; n++) {
    assert.equal((await admin(`2001:db8:1:2::${n}`, "nope")).status, 401);
    wrong += 1;
  }
  assertLimited(await admin("2001:db8:1:2::99"), "another address of the same /64");
  assert.equal((await admin("2001:db8:1:3::1")).status, 200, "another /64");
  // A request without any credential is refused, not counted.
  for (let n = 0; n < 8; n++)
    assert.equal((await call(w, "/api/runtime", { ip: "203.0.113.30" })).status, 401);
  assert.equal((await admin("203.0.113.30")).status, 200);
});

test("a burst of failures is summarised in one audit entry when it ends, never one entry per guess", async () => {
  const summaries = await eventually(
    async () => {
      const entries = (await w.api("/api/audit?action=failed_attempts")).json.entries;
      const counted = entries.reduce((n, e) => n + e.details.failures, 0);
      return counted === wrong ? entries : null;
    },
    { what: `summaries counting ${wrong} wrong credentials` },
  );
  assert.ok(summaries.length <= 3, `${summaries.length} summaries for ${wrong} guesses`);
  const [last] = summaries;
  assert.equal(last.who, "guard");
  assert.equal(last.from, null);
  const all = summaries.map((e) => e.details);
  const sum = (f) => all.reduce((n, d) => n + f(d), 0);
  assert.ok(sum((d) => d.refused) >= 6, "the 429s are counted as refused");
  assert.ok(sum((d) => d.by_path.sign_in) >= 7 && sum((d) => d.by_path.ingest_bearer) >= 8);
  assert.ok(
    all.some((d) => d.top.some((c) => c.client === "203.0.113.20" && c.attempts >= 5)),
    JSON.stringify(all),
  );
  assert.ok(
    all.some((d) => d.top.some((c) => c.client === "2001:db8:1:2::/64")),
    "an IPv6 client by its /64",
  );
  assert.ok(!JSON.stringify(summaries).includes("guess-"), "no guessed credential is kept");
});

/** HMAC-SHA256 keyed by `key` of the parts, each after its length (u64, big-endian). */
function derive(guardKey, secret, adminToken, password) {
  const mac = crypto.createHmac("sha256", guardKey);
  mac.update("facteur-console-session-v2");
  for (const part of [secret, adminToken, password]) {
    const bytes = Buffer.from(part, "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(bytes.length));
    mac.update(len);
    mac.update(bytes);
  }
  return mac.digest();
}
const sign = (key, id, exp) =>
  `${id}.${exp}.${crypto.createHmac("sha256", key).update(`${id}.${exp}`).digest("hex")}`;

test("forged, tampered, expired, planted and old-name cookies open nothing; the real one among planted ones does", async () => {
  const res = await signIn("192.0.2.50");
  assert.equal(res.status, 200, res.text);
  const cookie = cookieOf(res);
  const [name, token] = cookie.split("=");
  assert.equal(name, "__Host-facteur_session");
  const [id, exp, sig] = token.split(".");
  const get = (cookieHeader, headers = {}) =>
    call(w, "/api/overview", { headers: { Cookie: cookieHeader, ...headers } });
  assert.equal((await get(cookie)).status, 200);

  // The guard's own key (read here from the object, as a stand-in for a leak of it) signs
  // the cookies: the admin token alone does not, so a cookie tests no guess of the token.
  const ns = await w.mf.getDurableObjectNamespace("CONSOLE_GUARD");
  const keyReply = await ns
    .get(ns.idFromName("console"))
    .fetch("https://guard.internal/", { method: "POST", body: JSON.stringify({ op: "key" }) });
  const guardKey = Buffer.from((await keyReply.json()).key, "hex");
  assert.equal(guardKey.length, 32);
  const key = derive(guardKey, "", ADMIN_TOKEN, ADMIN_TOKEN);
  assert.equal(sign(key, id, exp), token, "the documented derivation");
  const oldScheme = derive(Buffer.alloc(0), "", ADMIN_TOKEN, ADMIN_TOKEN);
  assert.notEqual(sign(oldScheme, id, exp), token, "not a function of the token alone");

  const forged = sign(crypto.randomBytes(32), id, exp);
  const tampered = `${id}.${Number(exp) + 60_000}.${sig}`;
  const expired = sign(key, id, Date.now() - 1_000);
  for (const [what, value] of [
    ["forged", forged],
    ["tampered", tampered],
    ["expired (rightly signed)", expired],
    ["garbage", "x.y.z"],
  ]) {
    const r = await get(`${name}=${value}`);
    assert.equal(r.status, 401, what);
  }
  assert.equal(
    (await get(`${name}=${sign(key, id, Number(exp) - 1_000)}`)).status,
    200,
    "the same id, rightly signed and not expired, is open: expiry is what refused it",
  );
  assert.equal((await get(`facteur_session=${token}`)).status, 401, "the old cookie name");
  // A sibling subdomain planting cookies of the same name does not lock the operator out.
  const planted = `${name}=${forged}; ${name}=garbage; theme=dark; ${name}=${token}`;
  assert.equal((await get(planted)).status, 200, "the real cookie is found among planted ones");
  assert.equal((await get(`${name}=${forged}; ${name}=${expired}`)).status, 401);
  // Cookies never count as guesses: the client is not limited afterwards.
  assert.equal((await admin("192.0.2.50")).status, 200);

  // Writes by cookie need the console's own Origin: none, `null` or another are refused.
  for (const [method, p, body] of [
    ["PUT", "/api/runtime_flags", { gmail_ingress_enabled: true }],
    ["POST", "/api/test/dry_run", email()],
    ["DELETE", `/api/emails/${"0".repeat(32)}`, undefined],
    ["POST", `/api/targets/tgt_x/pause`, undefined],
  ]) {
    for (const origin of [undefined, "null", "https://evil.example"]) {
      const headers = { Cookie: cookie };
      if (origin) headers.Origin = origin;
      const r = await call(w, p, { method, headers, body });
      assert.equal(r.status, 403, `${method} ${p} with Origin ${origin}`);
      assert.equal(r.json.code, "forbidden");
    }
  }
});

test("weak or shared secrets, fault injection outside development and an http Upstash are refused at load, naming the variable and never its value", async () => {
  const cases = [
    [{ ADMIN_TOKEN: "dev-admin-token" }, "ADMIN_TOKEN", "dev-admin-token"],
    [{ PROCESS_API_TOKEN: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }, "PROCESS_API_TOKEN", "aaaaaaaa"],
    [{ DASHBOARD_PASSWORD: "hunter2hunter2" }, "DASHBOARD_PASSWORD", "hunter2"],
    [{ PROCESS_API_TOKEN: ADMIN_TOKEN }, "PROCESS_API_TOKEN", ADMIN_TOKEN],
    [{ FAULT_INJECT_PANIC_MARKER: "[boom-marker]" }, "FAULT_INJECT_PANIC_MARKER", "boom-marker"],
    [
      {
        UPSTASH_REDIS_REST_URL: "http://upstash.example",
        UPSTASH_REDIS_REST_TOKEN: "upstash-token-value",
      },
      "UPSTASH_REDIS_REST_URL",
      "upstash-token-value",
    ],
  ];
  for (const [vars, named, secret] of cases) {
    const weak = await startWorker({ network: stack.network, vars });
    try {
      for (const p of ["/health", "/api/runtime", "/login"]) {
        const r = await call(weak, p, { auth: `Bearer ${ADMIN_TOKEN}` });
        assert.equal(r.status, 500, `${named}: ${p}`);
        assert.equal(r.json.code, "misconfigured");
        assert.match(r.json.message, new RegExp(named));
        assert.ok(!r.text.includes(secret), `${named}: the value is not echoed`);
      }
    } finally {
      await weak.stop();
    }
  }
});

/** The audit entries (newest first) an `action` filter selects. */
const audit = async (query) => {
  const r = await w.api(`/api/audit?${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json.entries;
};

test("every change leaves its audit entry: who, from where, when, what (never a value)", async () => {
  const ip = "192.0.2.77";
  const res = await signIn(ip);
  const cookie = cookieOf(res);
  const me = res.json.session;
  assert.match(me, /^ses_[0-9a-f]{8}$/);
  const byCookie = (p, { method = "GET", body } = {}) =>
    call(w, p, { method, ip, body, headers: { Cookie: cookie, Origin: w.url } });
  const byToken = (p, { method = "GET", body } = {}) =>
    call(w, p, { method, body, ip: "192.0.2.88", auth: `Bearer ${ADMIN_TOKEN}` });
  const latest = async (action) => (await audit(`action=${action}&limit=1`))[0];
  const recent = (e) => Math.abs(Date.parse(e.when) - Date.now()) < 120_000;

  const signedIn = await latest("signed_in");
  assert.deepEqual(
    [signedIn.who, signedIn.from, signedIn.details.session],
    [`session ${me}`, ip, me],
  );

  // Settings, by cookie: which fields, hashes of their values.
  const put = await byCookie("/api/webhook_config", {
    method: "PUT",
    body: { webhook_time_start: "08:00", webhook_time_end: "20:00" },
  });
  assert.equal(put.status, 200, put.text);
  const config = await latest("config_changed");
  assert.equal(config.who, `session ${me}`);
  assert.equal(config.from, ip);
  assert.ok(recent(config));
  assert.equal(config.details.document, "webhook_config");
  assert.deepEqual(
    config.details.fields.map((f) => f.field),
    ["webhook_time_end", "webhook_time_start"],
  );
  assert.match(config.details.fields[0].after, /^[0-9a-f]{12}$/);
  assert.ok(!JSON.stringify(config).includes("08:00"), "no value");
  await byCookie("/api/webhook_config", {
    method: "PUT",
    body: { webhook_time_start: null, webhook_time_end: null },
  });

  // Rules, by the bearer token: ids added, removed, changed; no URL.
  const rule = (id, value) => ({
    id,
    name: id,
    conditions: [{ field: "subject", operator: "contains", value }],
    actions: { webhook_url: "https://hooks.receiver.test/rule/r00t-secret" },
  });
  await byToken("/api/routing_rules", { method: "PUT", body: { rules: [rule("a", "x")] } });
  await byToken("/api/routing_rules", {
    method: "PUT",
    body: { rules: [rule("a", "y"), rule("b", "x")] },
  });
  const rules = await latest("rules_changed");
  assert.deepEqual([rules.who, rules.from], ["admin token", "192.0.2.88"]);
  assert.deepEqual(
    [rules.details.added, rules.details.changed, rules.details.rules_after],
    [["b"], ["a"], 2],
  );
  assert.ok(!JSON.stringify(rules).includes("r00t-secret"));
  await byToken("/api/routing_rules", { method: "PUT", body: { rules: [] } });

  // A test e-mail, then its delivery replayed alone and in bulk.
  const sent = await byCookie("/api/test/email", { method: "POST" });
  assert.equal(sent.json.status, "queued", sent.text);
  const testEntry = await latest("test_email_sent");
  assert.deepEqual(
    [testEntry.details.email_id, testEntry.details.status],
    [sent.json.email_id, "queued"],
  );
  const delivered = await eventually(
    async () =>
      (await w.logs(`email_id=${sent.json.email_id}`)).find((l) => l.status === "success"),
    { what: "the test e-mail delivered" },
  );
  const one = await byCookie(`/api/deliveries/${delivered.delivery_id}/replay`, {
    method: "POST",
  });
  assert.equal(one.status, 202, one.text);
  assert.equal(one.json.budget[0].budget.per_minute, 100);
  assert.equal((await latest("delivery_replayed")).details.delivery_id, delivered.delivery_id);
  const bulk = await byToken("/api/deliveries/replay", {
    method: "POST",
    body: { email_id: sent.json.email_id },
  });
  assert.equal(bulk.status, 202, bulk.text);
  const bulkEntry = await latest("deliveries_replayed");
  assert.equal(bulkEntry.details.sent, bulk.json.replayed.length);
  assert.match(bulkEntry.details.filter.email_id, /^email:[0-9a-f]{12}$/);
  assert.ok(!JSON.stringify(bulkEntry).includes(sent.json.email_id), "the e-mail id is hashed");
  const dry = await byToken("/api/deliveries/replay?dry_run=true", { method: "POST", body: {} });
  assert.equal(dry.status, 200);
  assert.equal((await latest("deliveries_replayed")).id, bulkEntry.id, "a dry run is no change");

  // Dead letters: one, then the rest in bulk.
  const dead = [];
  for (const n of [1, 2]) {
    const r = await w.push(email({ subject: `[404] audit dead ${n} ${crypto.randomUUID()}` }));
    dead.push(r.json.email_id);
  }
  const letters = await eventually(
    async () => {
      const list = (await w.api("/api/dead_letters")).json.dead_letters;
      const mine = list.filter((d) => dead.includes(d.email_id));
      return mine.length === 2 ? mine : null;
    },
    { what: "two dead letters" },
  );
  assert.equal(
    (await byCookie(`/api/dead_letters/${letters[0].id}/replay`, { method: "POST" })).status,
    202,
  );
  assert.equal((await latest("dead_letter_replayed")).details.id, letters[0].id);
  const dlBulk = await byCookie("/api/dead_letters/replay", {
    method: "POST",
    body: { email_id: letters[1].email_id },
  });
  assert.equal(dlBulk.status, 202, dlBulk.text);
  const dlEntry = await latest("dead_letters_replayed");
  assert.deepEqual([dlEntry.details.selected, dlEntry.details.sent], [1, 1]);

  // A target paused and resumed.
  const [target] = (await byCookie("/api/targets")).json.targets;
  for (const action of ["pause", "resume"])
    assert.equal(
      (await byCookie(`/api/targets/${target.id}/${action}`, { method: "POST" })).status,
      200,
    );
  const [resumed, paused] = await audit("limit=2");
  assert.deepEqual(
    [paused.action, resumed.action, paused.details.target_id, resumed.details.target],
    ["target_paused", "target_resumed", target.id, "https://hooks.receiver.test/***"],
  );

  // An erasure, twice: both entries stay (no erasure removes the audit of an erasure).
  for (let n = 0; n < 2; n++)
    assert.equal(
      (await byCookie(`/api/emails/${sent.json.email_id}`, { method: "DELETE" })).status,
      200,
    );
  const erasures = await audit("action=erasure&limit=2");
  assert.equal(erasures.length, 2);
  const hash = crypto
    .createHash("sha256")
    .update(`email:${sent.json.email_id}`)
    .digest("hex")
    .slice(0, 12);
  assert.ok(erasures.every((e) => e.details.subject_hash === hash && e.who === `session ${me}`));
  assert.ok(erasures[1].details.removed.log_entries >= 1, "the first erasure removed the log");
  const testEntries = (await audit("action=test_email_sent&limit=1000")).filter(
    (e) => e.details.email_id === sent.json.email_id,
  );
  assert.equal(testEntries.length, 1, "the erasure left the other entries alone");
  for (const method of ["DELETE", "PUT", "POST"])
    assert.equal((await byToken("/api/audit", { method })).status, 405, `${method} /api/audit`);

  // Sign-out, then the filters.
  assert.equal((await byCookie("/api/session", { method: "DELETE" })).status, 200);
  assert.equal((await latest("signed_out")).details.session, me);
  const mine = await audit(`who=${me}&limit=1000`);
  assert.ok(mine.length >= 10 && mine.every((e) => e.who === `session ${me}`));
  assert.ok((await audit("who=token&limit=1000")).every((e) => e.who === "admin token"));
  assert.ok((await audit(`from=${ip}&limit=1000`)).every((e) => e.from === ip));
  assert.ok((await audit("days=1&limit=1000")).every(recent));
  assert.equal((await w.api("/api/audit?action=drop_table")).status, 400);
  const everything = (await w.api("/api/audit?limit=1000")).text;
  for (const secret of [ADMIN_TOKEN, PROCESS_TOKEN, "s3cret-path", "r00t-secret"])
    assert.ok(!everything.includes(secret), `the audit never holds ${secret.slice(0, 6)}…`);
});

test("API answers are never cached; every response carries HSTS", async () => {
  const checks = [
    [await admin("192.0.2.90"), true],
    [await call(w, "/api/nope"), true],
    [await call(w, "/api/runtime"), true],
    [await call(w, "/health"), false],
    [await call(w, "/"), false],
    [await call(w, "/assets/app.js"), false],
  ];
  for (const [r, api] of checks) {
    assert.equal(r.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains");
    if (api) assert.equal(r.headers.get("cache-control"), "no-store", r.text.slice(0, 80));
  }
});

test("a flood from many clients spends the global budget: unknown clients are refused, the operator's known client is not; one alert, one summary", async () => {
  const flood = await startWorker({
    network: stack.network,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/hook",
      ALERT_WEBHOOK_URL: "https://alerts.receiver.test/alerts",
      AUTH_GLOBAL_FAILURE_LIMIT: "8",
      AUTH_BURST_QUIET_SECS: "2",
    },
  });
  try {
    const operator = "192.0.2.1";
    assert.equal((await signIn(operator, ADMIN_TOKEN, flood)).status, 200, "known from now on");
    for (let n = 0; n < 8; n++) {
      const r = await admin(`198.18.0.${n}`, "guess", flood);
      assert.equal(r.status, 401, `failure ${n + 1}, each client under its own limit`);
    }
    const stranger = await admin("198.18.1.1", ADMIN_TOKEN, flood);
    assertLimited(stranger, "an unknown client with the right token, budget spent");
    assert.equal((await admin(operator, ADMIN_TOKEN, flood)).status, 200, "the known client");
    assert.equal((await signIn(operator, ADMIN_TOKEN, flood)).status, 200);
    assertLimited(await admin("198.18.0.99", "guess", flood), "a failure during the flood");
    const alerts = () =>
      rec.requests.filter((r) => r.path === "/alerts" && r.json?.alert === "credential_flood");
    await eventually(() => alerts().some((a) => a.json.state === "firing"), {
      what: "the credential_flood alert",
    });
    await eventually(() => alerts().some((a) => a.json.state === "recovered"), {
      what: "its recovery once the burst is over",
    });
    assert.equal(alerts().length, 2, "one alert, one recovery");
    const r = await call(flood, "/api/audit?action=failed_attempts", {
      ip: operator,
      auth: `Bearer ${ADMIN_TOKEN}`,
    });
    assert.equal(r.json.entries.length, 1, "one summary for the burst");
    const d = r.json.entries[0].details;
    assert.equal(d.flood, true);
    assert.deepEqual([d.failures, d.clients], [9, 10]);
    assert.equal(d.refused, 2, "the stranger's right token and the failure during the flood");
  } finally {
    await flood.stop();
  }
});

test("replays stay within each target's budget: the rest are refused with when to try again (429 when none could go)", async () => {
  const budget = await startWorker({
    network: stack.network,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/budget",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      REPLAY_BUDGET_PER_MINUTE: "3",
    },
  });
  try {
    const ids = [];
    for (let n = 0; n < 5; n++)
      ids.push(
        (await budget.push(email({ subject: `budget ${n} ${crypto.randomUUID()}` }))).json.email_id,
      );
    await eventually(
      async () =>
        (await budget.logs("status=success")).filter((l) => ids.includes(l.email_id)).length === 5,
      { what: "five deliveries" },
    );
    const first = await budget.api("/api/deliveries/replay", { method: "POST", body: {} });
    assert.equal(first.status, 202, first.text);
    assert.deepEqual(
      [first.json.count, first.json.replayed.length, first.json.refused.length],
      [5, 3, 2],
    );
    assert.equal(first.json.refused[0].reason, "replay_budget");
    const [t] = first.json.budget;
    assert.deepEqual([t.sent, t.refused, t.target], [3, 2, "https://hooks.receiver.test/***"]);
    assert.equal(first.json.retry_after_secs, 20, "one replay every 20 s at 3 a minute");
    const again = await budget.api("/api/deliveries/replay", { method: "POST", body: {} });
    assert.equal(again.status, 429, again.text);
    assert.equal(again.json.code, "replay_budget");
    assert.ok(Number(again.headers.get("retry-after")) >= 1);
    assert.deepEqual([again.json.replayed.length, again.json.refused.length], [0, 5]);
    const single = await budget.api(`/api/deliveries/${first.json.replayed[0]}/replay`, {
      method: "POST",
    });
    assert.equal(single.status, 429, single.text);
    const view = (await budget.api("/api/targets")).json.targets[0].replay_budget;
    assert.deepEqual([view.per_minute, view.available], [3, 0]);
    assert.ok(view.full_at_ms > Date.now());
    const entries = (await budget.api("/api/audit?action=deliveries_replayed")).json.entries;
    assert.deepEqual(
      entries.map((e) => [e.details.sent, e.details.refused]),
      [
        [0, 5],
        [3, 2],
      ],
    );
  } finally {
    await budget.stop();
  }
});

test("the local receiver answers loopback hosts only (no DNS rebinding) and caps bodies", async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "scripts/dev-receiver.mjs")], {
    env: { ...process.env, RECEIVER_PORT: String(port), RECEIVER_MAX_BODY: "4096" },
    stdio: "ignore",
  });
  try {
    await waitForPort(port);
    const hit = (host, { method = "GET", body } = {}) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: "127.0.0.1", port, path: "/requests.json", method, headers: { Host: host } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode));
          },
        );
        req.on("error", (e) =>
          e.code === "ECONNRESET" || e.code === "EPIPE" ? resolve(413) : reject(e),
        );
        req.end(body);
      });
    for (const host of ["rebound.example.com", `rebound.example.com:${port}`, "127.0.0.1.nip.io"])
      assert.equal(await hit(host), 403, host);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "localhost"])
      assert.equal(await hit(host), 200, host);
    assert.equal(await hit("localhost", { method: "POST", body: "x".repeat(4000) }), 200);
    assert.equal(await hit("localhost", { method: "POST", body: "x".repeat(5000) }), 413);
  } finally {
    child.kill("SIGTERM");
  }
});
