// The operator console's HTTP side (docs/console.md): pages and files behind a session,
// security headers, sign-in and sign-out, the CSRF check, the wrong-password limit, the views
// the pages read (overview, timeline, settings, log pages, dead letters) and what the console
// never sees (webhook URLs unmasked). The browser flows are in console-browser.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startWorker, email, request, ADMIN_TOKEN } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const SECRET_PATH = "/hook/s3cret-path-token";
let stack, rec, w, replayable;

function plan(r) {
  const subject = r.json?.subject ?? "";
  if (subject.includes("[503-once]") && r.attempt === 1) return { status: 503 };
  if (subject.includes("[404]")) return { status: 404 };
  if (subject.includes("[404-until-replay]") && !replayable) return { status: 404 };
  return { status: 200 };
}

before(async () => {
  stack = await startStack({
    plan,
    vars: {
      WEBHOOK_URL: `https://hooks.receiver.test${SECRET_PATH}`,
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      WEBHOOK_TIMEOUT_SEC: "2",
    },
  });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

/**
 * One request to the worker on its own connection (no keep-alive, redirects not followed).
 * Many of these are refused before the worker reads their body, and local workerd then drops
 * the connection: it must not be one that fetch() would reuse.
 */
function raw(path, options) {
  return request(w.url + path, options);
}

/** Signs in; returns the `Cookie` header value of the session. */
async function signIn(password = ADMIN_TOKEN, headers = {}) {
  const res = await raw("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: w.url, ...headers },
    body: JSON.stringify({ password }),
  });
  assert.equal(res.status, 200, res.text);
  const [cookie] = res.headers.getSetCookie();
  return cookie.split(";")[0];
}

/** A call by cookie, as the console makes it (same Origin). */
async function byCookie(cookie, path, { method = "GET", body, origin = w.url } = {}) {
  const headers = { Cookie: cookie };
  if (origin) headers.Origin = origin;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return raw(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function assertSecurityHeaders(res, what) {
  const csp = res.headers.get("content-security-policy") ?? "";
  const scriptSrc = csp.split(";").find((d) => d.trim().startsWith("script-src")) ?? "";
  assert.match(scriptSrc, /'self'/, `${what}: script-src`);
  assert.doesNotMatch(scriptSrc, /unsafe/, `${what}: no unsafe-inline script`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: no framing`);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(res.headers.get("referrer-policy"), "no-referrer", what);
}

async function pushAndId(subject, extra = {}) {
  const r = await w.push(email({ subject: `${subject} ${crypto.randomUUID()}`, ...extra }));
  assert.equal(r.json.status, "queued", JSON.stringify(r.json));
  return r.json.email_id;
}
const finalLog = async (id) =>
  (await w.logs(`email_id=${id}`)).find((l) => l.status === "success" || l.status === "error");

test("a visitor is sent to the sign-in page; pages, files and errors all carry the security headers", async () => {
  for (const path of [
    "/",
    "/deliveries",
    "/settings",
    "/rules",
    "/dead-letters",
    `/emails/${"a".repeat(32)}`,
  ]) {
    const res = await raw(path);
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get("location"), "/login", path);
    assertSecurityHeaders(res, path);
  }
  const login = await raw("/login");
  assert.equal(login.status, 200);
  assert.match(login.headers.get("content-type"), /text\/html/);
  assert.equal(login.headers.get("cache-control"), "no-store");
  assert.match(login.text, /Sign in to the console/);
  assertSecurityHeaders(login, "/login");
  const js = await raw("/assets/app.js");
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type"), /javascript/);
  assertSecurityHeaders(js, "/assets/app.js");
  const css = await raw("/assets/app.css");
  assert.match(css.headers.get("content-type"), /text\/css/);
  const missing = await raw("/assets/nothing.js");
  assert.equal(missing.status, 404);
  assert.equal(missing.json.code, "not_found");
  for (const path of ["/index.html", "/assets/../wrangler.toml", "/nope"]) {
    const res = await raw(path);
    assert.equal(res.status, 404, path);
    assertSecurityHeaders(res, path);
  }
  assertSecurityHeaders(await raw("/health"), "/health");
});

test("sign-in: a wrong password gets the one answer; the right one sets a signed session cookie that opens the admin API until sign-out", async () => {
  const wrong = await raw("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: "nope" }),
  });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.headers.getSetCookie(), []);
  const failure = wrong.json;
  assert.equal(failure.code, "unauthorized");
  const noPassword = await raw("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
  });
  assert.deepEqual(noPassword.json, failure, "a missing password is answered as a wrong one");

  const res = await raw("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: ADMIN_TOKEN }),
  });
  assert.equal(res.status, 200);
  const [setCookie] = res.headers.getSetCookie();
  for (const attr of ["__Host-facteur_session=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"])
    assert.ok(setCookie.includes(attr), `${attr} in ${setCookie}`);
  assert.doesNotMatch(setCookie, /Domain=/i, "a __Host- cookie has no Domain");
  const maxAge = Number(/Max-Age=(\d+)/.exec(setCookie)[1]);
  assert.ok(maxAge > 0 && maxAge <= 12 * 3600, `expiry ≤ 12 h: ${maxAge}`);
  const cookie = setCookie.split(";")[0];
  assert.doesNotMatch(cookie, new RegExp(ADMIN_TOKEN), "the cookie does not carry the token");

  const who = await byCookie(cookie, "/api/session");
  assert.equal(who.json.via, "session");
  assert.equal((await byCookie(cookie, "/api/overview")).status, 200);
  assert.equal(
    (await raw("/", { headers: { Cookie: cookie } })).status,
    200,
    "the console's shell",
  );
  assert.equal(
    (await raw("/login", { headers: { Cookie: cookie } })).status,
    303,
    "signed in: /login goes to the overview",
  );

  // A forged or altered cookie opens nothing.
  const [name, value] = cookie.split("=");
  const [id, exp, sig] = value.split(".");
  for (const forged of [
    `${id}.${Number(exp) + 1000}.${sig}`,
    `${"0".repeat(32)}.${exp}.${sig}`,
    `${id}.${exp}.${sig.replace(/.$/, (c) => (c === "0" ? "1" : "0"))}`,
  ]) {
    assert.equal((await byCookie(`${name}=${forged}`, "/api/overview")).status, 401, forged);
  }

  const out = await byCookie(cookie, "/api/session", { method: "DELETE" });
  assert.equal(out.status, 200);
  assert.equal(out.json.signed_out, true);
  assert.match(out.headers.getSetCookie()[0], /Max-Age=0/);
  assert.equal(
    (await byCookie(cookie, "/api/overview")).status,
    401,
    "the same cookie no longer opens the API",
  );
  assert.equal((await raw("/", { headers: { Cookie: cookie } })).status, 303);
});

test("CSRF: a write by cookie needs the console's own Origin; the bearer token does not", async () => {
  const cookie = await signIn();
  const put = (origin) =>
    byCookie(cookie, "/api/runtime_flags", {
      method: "PUT",
      body: { allow_custom_webhook_without_links: true },
      origin,
    });
  for (const origin of [null, "https://evil.example", "null", w.url.replace(/:\d+$/, ":1")]) {
    const r = await put(origin);
    assert.equal(r.status, 403, `Origin ${origin}`);
    assert.equal(r.json.code, "forbidden");
  }
  assert.equal((await put(w.url)).status, 200);
  assert.equal(
    (await byCookie(cookie, "/api/runtime_flags", { origin: null })).status,
    200,
    "reads need no Origin",
  );
  assert.equal(
    (
      await w.api("/api/runtime_flags", {
        method: "PUT",
        body: { allow_custom_webhook_without_links: true },
      })
    ).status,
    200,
    "bearer: no Origin needed",
  );
  const crossSignIn = await raw("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: "https://evil.example" },
    body: JSON.stringify({ password: ADMIN_TOKEN }),
  });
  assert.equal(crossSignIn.status, 403, "a sign-in posted by another site");
});

test("an erasure made from a console session is audited by the session's tag, never by name", async () => {
  const id = await pushAndId("erase from the console");
  const cookie = await signIn();
  const res = await byCookie(cookie, `/api/emails/${id}`, { method: "DELETE" });
  assert.equal(res.status, 200, res.text);
  const [entry] = (await w.api("/api/audit?limit=1")).json.entries;
  const me = (await byCookie(cookie, "/api/session")).json.session;
  assert.match(me, /^ses_[0-9a-f]{8}$/);
  assert.equal(entry.who, `session ${me}`);
  assert.equal(entry.action, "erasure");
  assert.equal(entry.details.kind, "email");
  assert.equal(
    (
      await byCookie(cookie, `/api/emails/${id}`, {
        method: "DELETE",
        origin: "https://evil.example",
      })
    ).status,
    403,
    "the Origin check holds",
  );
});

test("the console sees webhook URLs masked; sent back unchanged, the stored URL is kept", async () => {
  const rule = {
    id: "lab",
    name: "Lab",
    conditions: [{ field: "subject", operator: "contains", value: "[lab]" }],
    actions: { webhook_url: `https://hooks.receiver.test/rule/r00t-secret-path` },
  };
  assert.equal(
    (await w.api("/api/routing_rules", { method: "PUT", body: { rules: [rule] } })).status,
    200,
  );
  const cookie = await signIn();
  const shown = await byCookie(cookie, "/api/routing_rules");
  assert.equal(shown.json.config.rules[0].actions.webhook_url, "https://hooks.receiver.test/***");
  const renamed = structuredClone(shown.json.config);
  renamed.rules[0].name = "Lab renamed";
  const saved = await byCookie(cookie, "/api/routing_rules", { method: "PUT", body: renamed });
  assert.equal(saved.status, 200, saved.text);
  assert.doesNotMatch(saved.text, /r00t-secret/);
  const stored = (await w.api("/api/routing_rules")).json.config.rules[0];
  assert.equal(stored.name, "Lab renamed");
  assert.equal(stored.actions.webhook_url, rule.actions.webhook_url, "the stored URL is kept");
  const wrongHost = structuredClone(renamed);
  wrongHost.rules[0].actions.webhook_url = "https://elsewhere.example/***";
  const refused = await byCookie(cookie, "/api/routing_rules", { method: "PUT", body: wrongHost });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.field, "rules[0].actions.webhook_url");

  for (const path of [
    "/api/settings",
    "/api/webhook_config",
    "/api/routing_rules",
    "/api/overview",
    "/api/targets",
    "/api/alerts",
  ]) {
    const r = await byCookie(cookie, path);
    assert.equal(r.status, 200, path);
    assert.ok(
      !r.text.includes("s3cret-path-token") && !r.text.includes("r00t-secret"),
      `${path} shows no webhook URL path`,
    );
    assert.ok(!r.text.includes(ADMIN_TOKEN), `${path} shows no token`);
  }
  // The Targets page: the list, and the answers of pause and resume, show the URLs masked.
  const targets = (await byCookie(cookie, "/api/targets")).json.targets;
  assert.ok(
    targets.some((t) => t.target === "https://hooks.receiver.test/***"),
    JSON.stringify(targets),
  );
  for (const t of targets) {
    for (const action of ["pause", "resume"]) {
      const r = await byCookie(cookie, `/api/targets/${t.id}/${action}`, { method: "POST" });
      assert.equal(r.status, 200, r.text);
      assert.ok(
        !r.text.includes("s3cret-path-token") && !r.text.includes("r00t-secret"),
        `${action} shows no webhook URL path`,
      );
    }
  }
  const dry = await byCookie(cookie, "/api/test/dry_run", {
    method: "POST",
    body: { ...email({ subject: "[lab] draft" }), routing_rules: renamed },
  });
  assert.equal(dry.status, 200, dry.text);
  assert.equal(
    dry.json.matched_rule.id,
    "lab",
    "a draft with masked URLs runs with the stored ones",
  );
  await w.api("/api/routing_rules", { method: "PUT", body: { rules: [] } });
});

test("settings: each field's value and source; an invalid value names its field and nothing is saved", async () => {
  await w.api("/api/webhook_config", {
    method: "PUT",
    body: { webhook_time_start: null, webhook_time_end: null },
  });
  const { json } = await w.api("/api/settings");
  const field = (doc, name) => json.documents[doc].fields.find((f) => f.name === name);
  assert.deepEqual(
    { ...field("webhook_config", "webhook_url"), kind: undefined },
    {
      name: "webhook_url",
      value: "https://hooks.receiver.test/***",
      source: "environment",
      default: "https://hooks.receiver.test/***",
      env_var: "WEBHOOK_URL",
      kind: undefined,
    },
  );
  assert.equal(field("processing_prefs", "retry_delay_sec").source, "environment");
  assert.equal(field("processing_prefs", "retry_delay_sec").value, 1);
  assert.equal(
    field("processing_prefs", "max_email_size_mb").source,
    "environment",
    "wrangler.toml [vars]",
  );
  assert.equal(field("webhook_config", "absence_pause_enabled").source, "built-in");
  assert.deepEqual(field("processing_prefs", "retry_count").kind, {
    type: "integer",
    min: 0,
    max: 10,
  });

  await w.api("/api/processing_prefs", { method: "PUT", body: { retry_count: 2 } });
  const stored = (await w.api("/api/settings")).json.documents.processing_prefs.fields.find(
    (f) => f.name === "retry_count",
  );
  assert.deepEqual([stored.value, stored.source, stored.default], [2, "stored", 3]);
  await w.api("/api/processing_prefs", { method: "PUT", body: { retry_count: null } });

  const bad = await w.api("/api/webhook_config", {
    method: "PUT",
    body: { webhook_time_start: "25:00", webhook_time_end: "18:00" },
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, "webhook_time_start");
  assert.match(bad.json.message, /25:00/);
  const after = (await w.api("/api/webhook_config")).json.config;
  assert.equal(after.webhook_time_start, null, "nothing saved");
  assert.equal(after.webhook_time_end, null, "not even the valid field");
});

test("the log pages by offset and filters by detector and target", async () => {
  const ids = [await pushAndId("page-a"), await pushAndId("page-b"), await pushAndId("page-c")];
  for (const id of ids) await eventually(() => finalLog(id), { what: `delivery of ${id}` });
  const page = (q) => w.api(`/api/webhook_logs?days=1&detector=none&target=hooks.receiver&${q}`);
  const first = (await page("limit=2")).json;
  assert.equal(first.count, 2);
  assert.equal(first.next_offset, 2);
  const second = (await page("limit=2&offset=2")).json;
  assert.notDeepEqual(
    second.logs.map((l) => l.id),
    first.logs.map((l) => l.id),
  );
  const all = (await page("limit=10000")).json;
  assert.equal(all.next_offset, null, "the last page");
  for (const id of ids) assert.ok(all.logs.some((l) => l.email_id === id));
  assert.ok(
    all.logs.every((l) => l.detector === null && l.webhook_url.includes("hooks.receiver.test")),
  );
  assert.equal((await w.api("/api/webhook_logs?target=no-such-host")).json.count, 0);
  assert.equal((await w.api("/api/webhook_logs?offset=-1")).status, 400);
});

test("overview and timeline: figures, hourly buckets, alert states; a failed first attempt and its retry, with the payload", async () => {
  const id = await pushAndId("[503-once] timeline", {
    body: "<p>Files: https://www.dropbox.com/scl/fo/abc/x?rlkey=k&dl=0</p>",
  });
  const log = await eventually(() => finalLog(id), { what: "final log" });
  assert.equal(log.status, "success");
  const { json } = await w.api(`/api/emails/${id}`);
  const t = json.email;
  assert.equal(t.deliveries.length, 1);
  const d = t.deliveries[0];
  assert.deepEqual(
    d.attempts.map((a) => [a.attempt, a.status, a.status_code]),
    [
      [1, "retrying", 503],
      [2, "success", 200],
    ],
  );
  assert.ok(d.attempts[0].next_retry_at, "the retry's time");
  assert.equal(d.webhook_url, "https://hooks.receiver.test/***");
  assert.equal(d.replayable, true);
  assert.equal(d.payload.microsoft_graph_email_id, id);
  assert.match(t.subject, /timeline/);
  assert.equal(t.links.length, 1);
  assert.equal((await w.api(`/api/emails/${"f".repeat(32)}`)).status, 404);

  const o = (await w.api("/api/overview")).json;
  assert.equal(o.health.redis, "not_configured");
  assert.equal(o.health.log_store, "kv_only");
  assert.ok(o.health.last_success_at);
  assert.equal(o.overview.day_hourly.length, 24);
  assert.equal(o.overview.week_hourly.length, 168);
  const last = o.overview.day_hourly.at(-1);
  assert.ok(last.success >= 1 && last.retrying >= 1, JSON.stringify(last));
  assert.ok(o.overview.day.overall.deliveries >= 1);
  assert.equal(typeof o.overview.day.overall.p95_duration_ms, "number");
  assert.deepEqual(
    o.overview.alerts.map((a) => a.name),
    ["success_rate", "timeout_rate", "avg_duration", "redis"],
  );
  assert.equal(o.overview.alerts[3].state, "off", "Redis not configured");
});

test("dead letters: the dry run counts what a filter selects, the bulk replay sends them with their delivery ids", async () => {
  replayable = false;
  const ids = [
    await pushAndId("[404-until-replay] one"),
    await pushAndId("[404-until-replay] two"),
  ];
  const other = await pushAndId("[404] stays");
  const dead = () =>
    w.api("/api/dead_letters?kind=delivery&reason=not_retryable").then((r) => r.json.dead_letters);
  await eventually(
    async () => (await dead()).filter((d) => [...ids, other].includes(d.email_id)).length === 3,
    { what: "three dead letters" },
  );
  const filter = { email_id: ids[0] };
  const dry = await w.api("/api/dead_letters/replay?dry_run=true", {
    method: "POST",
    body: filter,
  });
  assert.equal(dry.status, 200);
  assert.equal(dry.json.count, 1);
  assert.equal(dry.json.items[0].email_id, ids[0]);
  assert.equal(
    (await w.api("/api/dead_letters/replay?dry_run=maybe", { method: "POST", body: filter }))
      .status,
    400,
  );
  assert.equal(
    (await w.api("/api/dead_letters/replay", { method: "POST", body: { kind: "parcel" } })).json
      .field,
    "kind",
  );
  assert.equal((await dead()).length >= 3, true, "a dry run replays nothing");

  replayable = true;
  const before = rec.requests
    .filter((r) => r.json?.microsoft_graph_email_id === ids[0])
    .map((r) => r.deliveryId);
  const done = await w.api("/api/dead_letters/replay", { method: "POST", body: filter });
  assert.equal(done.status, 202);
  assert.equal(done.json.replayed.length, 1);
  const again = await eventually(
    () =>
      rec.requests.find(
        (r) => r.json?.microsoft_graph_email_id === ids[0] && (r.action.status ?? 200) === 200,
      ),
    { what: "the replayed delivery" },
  );
  assert.equal(again.deliveryId, before[0], "same delivery id");
  const left = (await dead()).map((d) => d.email_id);
  assert.ok(
    !left.includes(ids[0]) && left.includes(ids[1]) && left.includes(other),
    "only the selected one left the list",
  );
});

test("send a test e-mail: it goes through the ingest, carries a link and is delivered", async () => {
  const cookie = await signIn();
  const r = await byCookie(cookie, "/api/test/email", { method: "POST" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, "queued");
  const got = await eventually(
    () => rec.requests.find((q) => q.json?.microsoft_graph_email_id === r.json.email_id),
    { what: "the test e-mail" },
  );
  assert.match(got.json.subject, /^Facteur test e-mail/);
  assert.equal(got.json.delivery_links[0].provider, "dropbox");
  assert.equal(
    (await byCookie(cookie, "/api/test/email", { method: "POST", origin: "https://evil.example" }))
      .status,
    403,
  );
});

test("five wrong passwords per client get the one answer, then every attempt is refused with a 429, the right password too", async () => {
  const attempt = (password, ip) =>
    raw("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip },
      body: JSON.stringify({ password }),
    });
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const res = await attempt(`wrong-${i}`, "203.0.113.7");
    answers.push([res.status, res.text]);
  }
  assert.equal(
    new Set(answers.map((a) => JSON.stringify(a))).size,
    1,
    "one answer for every failure",
  );
  assert.equal(answers[0][0], 401);
  const limited = await attempt(ADMIN_TOKEN, "203.0.113.7");
  assert.equal(limited.status, 429, limited.text);
  assert.equal(limited.json.code, "too_many_attempts");
  assert.ok(Number(limited.headers.get("retry-after")) > 0);
  assert.deepEqual(limited.headers.getSetCookie(), [], "no session while limited");
  const other = await attempt(ADMIN_TOKEN, "198.51.100.4");
  assert.equal(other.status, 200, "another client is not limited");
});

test("DASHBOARD_PASSWORD replaces ADMIN_TOKEN as the console's password; DEV_ALLOW_HTTP_LOOPBACK opens http loopback targets and only loopback hosts", async () => {
  const local = await startWorker({
    network: stack.network,
    vars: {
      DASHBOARD_PASSWORD: "console-pass-Hq4mZ7rT2wXb9",
      DEV_ALLOW_HTTP_LOOPBACK: "true",
      WEBHOOK_URL: "http://127.0.0.1:8790/hook",
    },
  });
  try {
    const signInWith = (password) =>
      fetch(`${local.url}/api/session`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ password }),
      });
    assert.equal((await signInWith(ADMIN_TOKEN)).status, 401);
    assert.equal((await signInWith("console-pass-Hq4mZ7rT2wXb9")).status, 200);
    assert.equal(
      (await local.api("/api/overview")).status,
      200,
      "the bearer token still opens the API",
    );
    const put = await local.api("/api/webhook_config", {
      method: "PUT",
      body: { webhook_url: "http://localhost:9999/hook" },
    });
    assert.equal(put.status, 200, put.text);
    assert.equal(
      (
        await local.api("/api/webhook_config", {
          method: "PUT",
          body: { webhook_url: "http://hooks.example/x" },
        })
      ).status,
      400,
    );
    const outside = await local.mf.dispatchFetch("https://facteur.example.workers.dev/health");
    assert.equal(outside.status, 500);
    const body = await outside.json();
    assert.equal(body.code, "misconfigured");
    assert.match(body.message, /DEV_ALLOW_HTTP_LOOPBACK/);
  } finally {
    await local.stop();
  }
  const refused = await w.api("/api/webhook_config", {
    method: "PUT",
    body: { webhook_url: "http://127.0.0.1:8790/hook" },
  });
  assert.equal(refused.status, 400, "production refuses http targets");
  assert.match(refused.json.message, /DEV_ALLOW_HTTP_LOOPBACK/);
});
