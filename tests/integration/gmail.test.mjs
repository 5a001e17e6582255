// Issue 18: Gmail push straight to the worker, in workerd on the test network, against the fake
// Google of tests/harness/google.mjs (consent, token endpoint, JWKS, the Gmail API) and its
// Pub/Sub pusher signing real RS256 tokens: connection through OAuth with PKCE; push → webhook;
// duplicate, out-of-order and storms of pushes → one delivery each, one sync at a time; a
// push dropped, caught by the cron's catch-up; a lagging history; a 404 cursor → a full sync
// without duplicates; the same e-mail by the Apps Script and by the push → one delivery, either
// order; forged tokens refused with nothing processed; garbage and huge bodies; messages
// deleted before the fetch, too large, in ISO-8859-1 quoted-printable; a revoked refresh token
// → the alert and the state the console shows; the watch renewed by the catch-up, and its
// expiry alert; disconnecting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";
import {
  startGoogle,
  connectGmail,
  rfc822,
  GMAIL_VARS,
  GMAIL_AUDIENCE,
} from "../harness/google.mjs";

let stack, w, rec, google;

before(async () => {
  stack = await startStack({
    receiverHosts: ["hooks.receiver.test", "alerts.receiver.test"],
    vars: {
      ...GMAIL_VARS,
      WEBHOOK_URL: "https://hooks.receiver.test/hook",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      ALERT_WEBHOOK_URL: "https://alerts.receiver.test/alerts",
    },
  });
  ({ worker: w, receiver: rec } = stack);
  google = startGoogle(stack.network);
});
after(() => stack?.stop());

const hooks = () => rec.requests.filter((r) => r.path === "/hook");
const hooksFor = (subject) => hooks().filter((r) => r.json?.subject === subject);
const gmailState = async () => (await w.api("/api/gmail")).json;
const catchUp = async (minute = 5) => {
  // A scheduled time on a minute divisible by 5: the catch-up runs.
  const at = Math.floor(Date.now() / 300_000) * 300_000 + (minute % 5) * 60_000;
  await (await w.mf.getWorker()).scheduled({ cron: "* * * * *", scheduledTime: new Date(at) });
};
const unique = (label) => `${label} ${crypto.randomUUID().slice(0, 8)}`;
/** Waits until the mailbox is idle: a pass ran, none is running, none is due. */
const settled = () =>
  eventually(
    async () => {
      const s = await gmailState();
      return s.last_sync && !s.syncing && !s.next_pass_at ? s : null;
    },
    { what: "an idle mailbox" },
  );

test("connecting the mailbox: OAuth with PKCE, the state bound to the browser, the watch", async () => {
  const before = await gmailState();
  assert.equal(before.configured, true);
  assert.equal(before.connected, false);
  assert.match(before.redirect_uri, /^http:\/\/127\.0\.0\.1:\d+\/gmail\/callback$/);

  // The callback without the browser's binding cookie is refused, and so is a replay.
  const start = await w.api("/api/gmail/connect", { method: "POST" });
  assert.equal(start.status, 200);
  const url = new URL(start.json.authorization_url);
  assert.equal(url.host, "accounts.google.com");
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.equal(url.searchParams.get("access_type"), "offline");
  const cookie = start.headers.get("set-cookie");
  assert.match(cookie, /facteur_gmail_oauth=[0-9a-f]{32}; .*HttpOnly; Secure; SameSite=Lax/);
  const back = new URL(google.authorize(start.json.authorization_url));
  const noCookie = await w.api(back.pathname + back.search, { auth: null });
  assert.equal(noCookie.status, 200);
  assert.equal(noCookie.headers.get("refresh"), "0;url=/gmail?error=other_browser");
  const forged = await w.api(`/gmail/callback?code=x&state=nope`, {
    auth: null,
    headers: { Cookie: cookie.split(";")[0] },
  });
  assert.equal(forged.headers.get("refresh"), "0;url=/gmail?error=state_unknown");
  const denied = new URL(google.authorize(start.json.authorization_url, { deny: true }));
  const no = await w.api(denied.pathname + denied.search, { auth: null });
  assert.equal(no.headers.get("refresh"), "0;url=/gmail?error=denied");
  assert.equal(google.count("token:authorization_code"), 0, "no code was traded");

  const done = await connectGmail(w, google);
  assert.equal(done.status, 200, done.text);
  assert.equal(done.headers.get("refresh"), "0;url=/gmail?connected=1");
  assert.match(done.text, /<meta http-equiv="refresh" content="0;url=\/gmail\?connected=1">/);
  assert.match(done.headers.get("set-cookie"), /facteur_gmail_oauth=; Max-Age=0/);
  const s = await gmailState();
  assert.equal(s.connected, true);
  assert.equal(s.email_address, google.email);
  assert.ok(Date.parse(s.watch.expires_at) > Date.now() + 6 * 86_400_000);
  assert.equal(s.cursor, String(google.state.historyId));
  assert.equal(google.count("watch"), 1);
  // The connection is audited, as the one who started it (here the bearer token), the account
  // masked as in the worker's log.
  const connected = (await w.api("/api/audit?action=gmail_changed&limit=1")).json.entries[0];
  assert.equal(connected.details.change, "connected");
  assert.equal(connected.who, "admin token");
  assert.ok(connected.details.account && connected.details.account !== google.email);
  assert.ok(!JSON.stringify(connected).includes(google.email));
  const watch = google.calls.find((c) => c.kind === "watch");
  assert.equal(watch.method, "POST");
  // The refresh token is never answered.
  assert.doesNotMatch(JSON.stringify(s), /1\/\/|ya29\./);
});

test("a push becomes one webhook, with what the Apps Script would have sent", async () => {
  // The connection runs a pass at once; were it still running, it could list the message below
  // before the push comes, and the push would be answered `stale` (rightly).
  await settled();
  const subject = unique("Lot 12 — été");
  const internalDate = Date.UTC(2026, 0, 1, 9, 30, 0, 123);
  const m = google.deliver(
    rfc822({
      from: "Jeanne Dupré <Jeanne@Example.com>",
      subject,
      text: "plain version",
      html: "<p>https://www.dropbox.com/scl/fo/abc/photos?rlkey=k&amp;dl=0</p>",
      encoding: "quoted-printable",
    }),
    { internalDate },
  );
  const r = await google.pushNotification(w, { historyId: m.historyId });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, "recorded");
  const [hook] = await eventually(() => (hooksFor(subject).length ? hooksFor(subject) : null), {
    what: "the webhook",
  });
  const date = "2026-01-01T09:30:00.123Z";
  assert.equal(hook.json.receivedDateTime, date, "internalDate as toISOString() writes it");
  assert.equal(hook.json.sender_address, "Jeanne Dupré <Jeanne@Example.com>");
  assert.equal(hook.json.sender_email, "jeanne@example.com");
  assert.equal(
    hook.json.email_content,
    "<p>https://www.dropbox.com/scl/fo/abc/photos?rlkey=k&amp;dl=0</p>",
  );
  const id = crypto.createHash("md5").update(`${subject}|jeanne@example.com|${date}`).digest("hex");
  assert.equal(hook.json.microsoft_graph_email_id, id, "the email_id the ingest computes");
  assert.equal(hook.json.dropbox_urls.length, 1);
  const s = await settled();
  assert.ok(s.taken.push >= 1);
  assert.ok(BigInt(s.cursor) >= BigInt(m.historyId));
});

test("duplicate, out-of-order and stale pushes: one delivery each", async () => {
  const subjects = [unique("dup A"), unique("dup B"), unique("dup C")];
  const ms = subjects.map((subject) => google.deliver(rfc822({ subject, text: "x" })));
  // The last one first, then the older ones, then the same again and again.
  for (const m of [ms[2], ms[0], ms[1], ms[2], ms[0]]) {
    const r = await google.pushNotification(w, { historyId: m.historyId });
    assert.equal(r.status, 200, r.text);
    assert.ok(["recorded", "stale"].includes(r.json.status), r.text);
  }
  await eventually(() => subjects.every((s) => hooksFor(s).length), { what: "three webhooks" });
  await settled();
  const again = await google.pushNotification(w, { historyId: ms[1].historyId });
  assert.equal(again.json.status, "stale", "older than the cursor: acknowledged, nothing done");
  await settled();
  for (const s of subjects) assert.equal(hooksFor(s).length, 1, s);
});

test("a storm of pushes: one sync at a time, each e-mail once", async () => {
  const subjects = Array.from({ length: 12 }, (_, i) => unique(`storm ${i}`));
  const pushes = [];
  for (const subject of subjects) {
    const m = google.deliver(rfc822({ subject, text: "storm" }));
    for (let i = 0; i < 3; i++) pushes.push(google.pushNotification(w, { historyId: m.historyId }));
  }
  const answers = await Promise.all(pushes);
  assert.ok(
    answers.every((a) => a.status === 200),
    answers.map((a) => a.status).join(),
  );
  await eventually(() => subjects.every((s) => hooksFor(s).length), { what: "12 webhooks" });
  await settled();
  for (const s of subjects) assert.equal(hooksFor(s).length, 1, s);
  assert.equal(google.maxConcurrent("history.list"), 1, "never two listings at once");
  assert.equal(google.maxConcurrent("messages.get:raw"), 1, "never two fetches at once");
});

test("a push never sent: the cron's catch-up finds the message", async () => {
  const subject = unique("dropped push");
  google.deliver(rfc822({ subject, html: "<p>no notification</p>" }));
  await catchUp();
  await eventually(() => hooksFor(subject).length, { what: "the webhook, from the catch-up" });
});

test("a history that lags the notification is looked at again a few seconds later", async () => {
  const subject = unique("lagging history");
  const m = google.deliver(rfc822({ subject, text: "late" }));
  google.lagHistory(1);
  const listings = google.count("history.list");
  await google.pushNotification(w, { historyId: m.historyId });
  await eventually(() => hooksFor(subject).length, { what: "the webhook after the retry" });
  assert.ok(google.count("history.list") >= listings + 2, "an empty listing, then another");
});

test("a cursor Gmail no longer knows (404): a full sync, no duplicates", async () => {
  const first = unique("before the gap");
  const m1 = google.deliver(rfc822({ subject: first, text: "1" }));
  await google.pushNotification(w, { historyId: m1.historyId });
  await eventually(() => hooksFor(first).length, { what: "the first webhook" });
  await settled();
  // Two messages arrive and no push is heard; meanwhile Gmail forgets the history.
  const missed = [unique("missed 1"), unique("missed 2")];
  for (const subject of missed) google.deliver(rfc822({ subject, text: "2" }));
  google.forgetHistory();
  const last = google.deliver(rfc822({ subject: unique("after the gap"), text: "3" }));
  await google.pushNotification(w, { historyId: last.historyId });
  await eventually(() => missed.every((s) => hooksFor(s).length), { what: "the missed ones" });
  const s = await settled();
  assert.equal(s.full_sync_pending, 0);
  assert.ok(google.count("messages.list") >= 1, "the label was listed");
  assert.equal(hooksFor(first).length, 1, "taken before: not delivered again");
  for (const subject of missed) assert.equal(hooksFor(subject).length, 1);
  // Listing goes on from the new cursor.
  const next = unique("after the full sync");
  const m = google.deliver(rfc822({ subject: next, text: "4" }));
  await google.pushNotification(w, { historyId: m.historyId });
  await eventually(() => hooksFor(next).length, { what: "the next webhook" });
});

test("the same e-mail by the Apps Script and by the push: one delivery, whichever comes first", async () => {
  const scriptPush = (subject, from, internalDate, body) =>
    w.push({ subject, sender: from, body, date: new Date(internalDate).toISOString() });
  // The script first: the push finds it taken.
  const a = unique("script first");
  const from = "Agence <contact@agence.example>";
  const ma = google.deliver(rfc822({ from, subject: a, html: "<p>a</p>" }));
  const byScript = await scriptPush(a, from, ma.internalDate, "<p>a</p>");
  assert.equal(byScript.json.status, "queued");
  await google.pushNotification(w, { historyId: ma.historyId });
  // The push first: the script is answered already_processed.
  const b = unique("push first");
  const mb = google.deliver(rfc822({ from, subject: b, html: "<p>b</p>" }));
  await google.pushNotification(w, { historyId: mb.historyId });
  await eventually(() => hooksFor(b).length, { what: "the pushed one" });
  const late = await scriptPush(b, from, mb.internalDate, "<p>b</p>");
  assert.equal(late.json.status, "already_processed");
  await settled();
  await eventually(() => hooksFor(a).length, { what: "the scripted one" });
  assert.equal(hooksFor(a).length, 1);
  assert.equal(hooksFor(b).length, 1);
  assert.equal(hooksFor(a)[0].json.microsoft_graph_email_id, byScript.json.email_id);
  const s = await gmailState();
  assert.ok(s.taken.already >= 1, "the push saw the script's e-mail as taken");
  await eventually(async () => (await gmailState()).taken.script >= 1, {
    what: "the script's e-mail counted",
  });
});

test("forged, expired, wrong-audience and wrong-signer tokens are refused; nothing is processed", async () => {
  await settled();
  const subject = unique("never by a forged push");
  const m = google.deliver(rfc822({ subject, text: "forged" }));
  const before = (await gmailState()).notifications.received;
  const listings = google.count("history.list");
  const now = Math.floor(Date.now() / 1000);
  const stranger = google.newKey();
  const cases = [
    ["no token", null, 401],
    ["not a JWT", "garbage", 401],
    ["HS256", google.signToken({ header: { alg: "HS256" } }), 401],
    ["signed by another key, Google's kid", google.signToken({ signWith: stranger }), 401],
    [
      "an unknown kid",
      google.signToken({ signWith: stranger, header: { kid: stranger.kid } }),
      401,
    ],
    ["expired", google.signToken({ claims: { iat: now - 7200, exp: now - 3600 } }), 401],
    [
      "issued in the future",
      google.signToken({ claims: { iat: now + 600, exp: now + 4200 } }),
      401,
    ],
    ["another issuer", google.signToken({ claims: { iss: "https://evil.example" } }), 401],
    ["another audience", google.signToken({ claims: { aud: "https://other.example/push" } }), 403],
    [
      "another signer",
      google.signToken({ claims: { email: "x@evil.iam.gserviceaccount.com" } }),
      403,
    ],
    ["e-mail not verified", google.signToken({ claims: { email_verified: false } }), 403],
  ];
  for (const [what, token, status] of cases) {
    const r = await w.api("/api/gmail/push", {
      method: "POST",
      body: google.envelope({ historyId: m.historyId }),
      auth: token === null ? null : `Bearer ${token}`,
    });
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.equal(r.json.success, false, what);
    assert.equal(r.json.code, status === 401 ? "unauthorized" : "forbidden", what);
    assert.doesNotMatch(r.text, /eyJ/, "the token is never echoed");
  }
  const after = await gmailState();
  assert.equal(after.notifications.received, before, "no notification recorded");
  assert.equal(google.count("history.list"), listings, "no listing");
  assert.equal(hooksFor(subject).length, 0);
  // The genuine push goes through.
  const ok = await google.pushNotification(w, { historyId: m.historyId });
  assert.equal(ok.status, 200, ok.text);
  await eventually(() => hooksFor(subject).length, { what: "the genuine push's webhook" });
  assert.equal(GMAIL_AUDIENCE, GMAIL_VARS.GMAIL_PUSH_AUDIENCE);
});

test("bodies: garbage is acknowledged and ignored, over 16 KB is a 413, both with a valid token", async () => {
  const garbage = await google.pushNotification(w, { body: { message: { data: "%%%" } } });
  assert.equal(garbage.status, 200);
  assert.equal(garbage.json.status, "ignored");
  const notJson = await w.api("/api/gmail/push", {
    method: "POST",
    body: "not json at all",
    auth: `Bearer ${google.signToken()}`,
  });
  assert.equal(notJson.status, 200);
  assert.equal(notJson.json.status, "ignored");
  const other = await google.pushNotification(w, { emailAddress: "someone@else.example" });
  assert.equal(other.json.status, "ignored", "another mailbox");
  const huge = await w.api("/api/gmail/push", {
    method: "POST",
    body: JSON.stringify({ message: { data: "A".repeat(20_000) } }),
    auth: `Bearer ${google.signToken()}`,
  });
  assert.equal(huge.status, 413);
  assert.equal(huge.json.code, "payload_too_large");
});

test("messages deleted before the fetch, too large, or in ISO-8859-1 quoted-printable", async () => {
  await settled();
  const before = (await gmailState()).taken.skipped;
  // Deleted between the notification and the fetch: skipped, logged, the cursor moves on.
  const gone = google.deliver(rfc822({ subject: unique("deleted"), text: "x" }));
  google.remove(gone.id);
  // Latin-1, quoted-printable, RFC 2047 subject.
  const latin = unique("Désabonnement journée");
  const ml = google.deliver(
    rfc822({
      subject: latin,
      from: "Société <compta@societe.example>",
      text: "Journée aux tarifs habituels, merci ½",
      charset: "ISO-8859-1",
      encoding: "quoted-printable",
    }),
  );
  await google.pushNotification(w, { historyId: ml.historyId });
  const [hook] = await eventually(() => (hooksFor(latin).length ? hooksFor(latin) : null), {
    what: "the Latin-1 e-mail",
  });
  assert.equal(hook.json.email_content, "Journée aux tarifs habituels, merci ½");
  assert.equal(hook.json.sender_address, "Société <compta@societe.example>");
  // Over max_email_size_mb once converted: skipped with a log entry naming the e-mail.
  await w.api("/api/processing_prefs", { method: "PUT", body: { max_email_size_mb: 1 } });
  const big = unique("too large");
  const mb = google.deliver(
    rfc822({ subject: big, html: `<p>${"x".repeat(1_100_000)}</p>`, encoding: "base64" }),
  );
  await google.pushNotification(w, { historyId: mb.historyId });
  const s = await eventually(
    async () => {
      const st = await gmailState();
      return st.taken.skipped.too_large >= before.too_large + 1 ? st : null;
    },
    { what: "the large one skipped" },
  );
  await w.api("/api/processing_prefs", { method: "PUT", body: { max_email_size_mb: 25 } });
  assert.equal(s.taken.skipped.deleted, before.deleted + 1);
  const logs = await w.logs("status=skipped");
  assert.ok(
    logs.some((l) => l.reason === "too_large" && /max_email_size_mb/.test(l.error)),
    "logged with why",
  );
  assert.equal(hooksFor(big).length, 0);
  // Nothing loops: the next message is taken as usual.
  const next = unique("after the skips");
  const mn = google.deliver(rfc822({ subject: next, text: "fine" }));
  await google.pushNotification(w, { historyId: mn.historyId });
  await eventually(() => hooksFor(next).length, { what: "the next webhook" });
});

test("Google failing (503, 429): the pass backs off and delivers once Google answers", async () => {
  await settled();
  const subject = unique("after a 503");
  const m = google.deliver(rfc822({ subject, text: "retry" }));
  google.fail("history.list", 503, 1);
  await google.pushNotification(w, { historyId: m.historyId });
  const s = await eventually(
    async () => {
      const st = await gmailState();
      return st.last_sync?.outcome === "retry" ? st : null;
    },
    { what: "a pass that backs off" },
  );
  assert.ok(Date.parse(s.next_retry_at) > Date.now(), "the next pass is later");
  // "Sync now" does not wait for the backoff.
  assert.equal((await w.api("/api/gmail/sync", { method: "POST" })).json.status, "scheduled");
  await eventually(() => hooksFor(subject).length, { what: "the webhook" });
  // A 429 with Retry-After: the next pass is not sooner than Google asked.
  await settled();
  const other = unique("after a 429");
  const m2 = google.deliver(rfc822({ subject: other, text: "rate" }));
  google.fail("messages.get:raw", 429, 1, 120);
  await google.pushNotification(w, { historyId: m2.historyId });
  const limited = await eventually(
    async () => {
      const st = await gmailState();
      return st.last_sync?.outcome === "retry" ? st : null;
    },
    { what: "a pass that waits for Retry-After" },
  );
  assert.ok(Date.parse(limited.next_retry_at) >= Date.parse(limited.last_sync.at) + 119_000);
  assert.equal(hooksFor(other).length, 0);
  await w.api("/api/gmail/sync", { method: "POST" });
  await eventually(() => hooksFor(other).length, { what: "the webhook after the 429" });
});

test("the watch is renewed by the catch-up; an expiring watch alerts once, and recovers", async () => {
  const alerts = () =>
    rec.requests.filter((r) => r.path === "/alerts" && r.json?.alert === "gmail_watch_expiring");
  await settled();
  // Renewals fail and the watch expires within 48 h.
  google.state.watchStatus = 403;
  google.state.watchLifetimeMs = 86_400_000;
  await w.api("/api/gmail/disconnect", { method: "POST" });
  google.state.watchStatus = 200;
  await connectGmail(w, google);
  const firing = await eventually(() => alerts().find((a) => a.json.state === "firing"), {
    what: "the expiry alert",
  });
  assert.equal(firing.json.details.mailbox, "m***@example.com");
  google.state.watchLifetimeMs = 7 * 86_400_000;
  const watches = google.count("watch");
  await catchUp();
  assert.equal(google.count("watch"), watches + 1, "renewed: it expired within 6 days");
  const s = await gmailState();
  assert.ok(Date.parse(s.watch.expires_at) > Date.now() + 6 * 86_400_000);
  const recovered = await eventually(() => alerts().find((a) => a.json.state === "recovered"), {
    what: "the recovery",
  });
  assert.equal(recovered.json.alert, "gmail_watch_expiring");
  await catchUp();
  assert.equal(google.count("watch"), watches + 1, "renewed a moment ago: not again");
  assert.equal(alerts().length, 2, "one firing, one recovered");
});

test("a revoked refresh token: the reconnect alert, the state, and the Apps Script still works", async () => {
  await settled();
  google.revoke();
  await w.api("/api/gmail/sync", { method: "POST" });
  // The access token held is refused (401) and dropped, and the pass backs off; the next one
  // (at once when a pass was asked for meanwhile, else on "Sync now") refreshes: invalid_grant.
  const s = await eventually(
    async () => {
      const st = await gmailState();
      if (st.reconnect_needed) return st;
      if (st.last_sync?.outcome === "retry") await w.api("/api/gmail/sync", { method: "POST" });
      return null;
    },
    { what: "reconnect needed" },
  );
  assert.match(s.reconnect_needed.error, /invalid_grant/);
  const alert = await eventually(
    () => rec.requests.find((r) => r.path === "/alerts" && r.json?.alert === "gmail_reconnect"),
    { what: "the reconnect alert" },
  );
  assert.equal(alert.json.state, "firing");
  // Pushes are still acknowledged (and recorded), but nothing syncs.
  const broken = unique("while broken");
  const m = google.deliver(rfc822({ subject: broken, text: "x" }));
  const r = await google.pushNotification(w, { historyId: m.historyId });
  assert.equal(r.status, 200);
  assert.equal(
    (await w.api("/api/gmail/sync", { method: "POST" })).json.status,
    "reconnect_needed",
  );
  // The Apps Script path is untouched.
  const scripted = await w.push({
    subject: unique("script meanwhile"),
    sender: "a@b.c",
    body: "x",
    date: new Date().toISOString(),
  });
  assert.equal(scripted.json.status, "queued");
  // Reconnecting recovers.
  await connectGmail(w, google);
  await eventually(
    () =>
      rec.requests.find(
        (r) =>
          r.path === "/alerts" &&
          r.json?.alert === "gmail_reconnect" &&
          r.json.state === "recovered",
      ),
    { what: "the recovery" },
  );
  assert.equal((await gmailState()).reconnect_needed, null);
  // What arrived meanwhile is taken once reconnected: the cursor was kept.
  await eventually(() => hooksFor(broken).length, { what: "the e-mail that arrived meanwhile" });
  await settled();
  assert.equal(hooksFor(broken).length, 1);
});

test("disconnecting stops the watch and revokes the grant; pushes are then ignored", async () => {
  const r = await w.api("/api/gmail/disconnect", { method: "POST" });
  assert.equal(r.json.status, "disconnected");
  assert.ok(google.count("stop") >= 1 && google.count("revoke") >= 1);
  const audited = (await w.api("/api/audit?action=gmail_changed&limit=1")).json.entries[0];
  assert.equal(audited.details.change, "disconnected");
  assert.equal(audited.who, "admin token");
  const s = await gmailState();
  assert.equal(s.connected, false);
  const p = await google.pushNotification(w, {});
  assert.equal(p.json.status, "ignored");
  assert.equal((await w.api("/api/gmail/sync", { method: "POST" })).json.status, "not_connected");
});

test("a key Google rotated in is fetched for its kid, at most once a minute per isolate", async () => {
  // Last in the file: the forged kid above made the isolate fetch Google's keys; a token with a
  // kid it does not hold is refused until a minute has passed since, then the keys are fetched
  // again and the token verifies.
  await connectGmail(w, google);
  google.rotateKey();
  const subject = unique("signed with a new key");
  const m = google.deliver(rfc822({ subject, text: "rotated" }));
  const fetches = google.count("certs");
  const started = Date.now();
  const answers = [];
  await eventually(
    async () => {
      const r = await google.pushNotification(w, { historyId: m.historyId });
      answers.push(r.status);
      return r.status === 200;
    },
    { what: "the new key accepted", timeoutMs: 90_000, intervalMs: 2_000 },
  );
  assert.ok(
    answers.slice(0, -1).every((s) => s === 401),
    answers.join(),
  );
  const minutes = Math.ceil((Date.now() - started) / 60_000);
  assert.ok(google.count("certs") - fetches <= minutes + 1, "keys fetched at most once a minute");
  await eventually(() => hooksFor(subject).length, { what: "its webhook" });
});
