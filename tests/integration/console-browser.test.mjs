// The operator console in real headless Chromium (playwright-core driving Debian's chromium),
// against the built worker in workerd with the test network: sign-in and sign-out, an e-mail's
// attempts, settings errors, a rule tried then saved, a dead letter replayed, a target paused
// and resumed, the test e-mail, hostile e-mail content shown as text, keyboard use and phone width,
// the Audit page with its filters, and the sign-in page past the failed-attempt limit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email, ADMIN_TOKEN } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";
import { launchBrowser, signIn } from "../harness/browser.mjs";

let stack, rec, w, browser, page;
const replayable = new Set();

function plan(r) {
  const subject = r.json?.subject ?? "";
  if (subject.includes("[503-once]") && r.attempt === 1) return { status: 503 };
  if (subject.includes("[404-until-replay]") && !replayable.has(r.json.microsoft_graph_email_id))
    return { status: 404 };
  return { status: 200 };
}

before(async () => {
  stack = await startStack({
    plan,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/hook/console",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_DELAY: "1",
      WEBHOOK_TIMEOUT_SEC: "2",
    },
  });
  ({ receiver: rec, worker: w } = stack);
  browser = await launchBrowser();
  page = await browser.newPage();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

async function delivered(subject, extra = {}) {
  const r = await w.push(email({ subject: `${subject} ${crypto.randomUUID()}`, ...extra }));
  assert.equal(r.json.status, "queued", JSON.stringify(r.json));
  const id = r.json.email_id;
  await eventually(
    async () =>
      (await w.logs(`email_id=${id}`)).find((l) => l.status === "success" || l.status === "error"),
    { what: `final log of ${id}` },
  );
  return id;
}

test("a wrong password is refused, the right one opens the console, signing out ends the session", async () => {
  await page.goto(`${w.url}/`);
  assert.equal(new URL(page.url()).pathname, "/login", "a visitor is sent to the sign-in page");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const error = page.locator("#login-error");
  await error.waitFor({ state: "visible" });
  assert.match(await error.textContent(), /Sign-in failed/);
  assert.equal(new URL(page.url()).pathname, "/login");

  await signIn(page, w.url, ADMIN_TOKEN);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  // A __Host- cookie over http://127.0.0.1: Chromium counts loopback as a secure context, so
  // it takes the cookie with `Secure` (local development keeps working).
  const [cookie] = (await browser.context.cookies()).filter(
    (c) => c.name === "__Host-facteur_session",
  );
  assert.ok(cookie, "the __Host- session cookie, taken over http://127.0.0.1");
  assert.equal(cookie.path, "/");
  assert.ok(!cookie.domain.startsWith("."), "a host-only cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(
    await page.evaluate(() => document.cookie.includes("facteur_session")),
    false,
    "not readable by scripts",
  );
  const header = `__Host-facteur_session=${cookie.value}`;
  assert.equal((await fetch(`${w.url}/api/overview`, { headers: { Cookie: header } })).status, 200);

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${w.url}/login`);
  assert.equal(
    (await fetch(`${w.url}/api/overview`, { headers: { Cookie: header } })).status,
    401,
    "the old cookie no longer opens the API",
  );
  await page.goto(`${w.url}/deliveries`);
  assert.equal(new URL(page.url()).pathname, "/login");
  await signIn(page, w.url, ADMIN_TOKEN);
});

test("an e-mail pushed to the ingest appears in Deliveries with its attempts: the failed first one and its retry", async () => {
  const id = await delivered("[503-once] browser", {
    body: "<p>https://www.dropbox.com/scl/fo/abc/f?rlkey=k&dl=0</p>",
  });
  await page.goto(`${w.url}/deliveries?email_id=${id}`);
  const rows = page.locator("table.data tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), 2, "the retrying attempt and the success");
  assert.deepEqual(await page.locator("table.data tbody tr td:nth-child(2)").allTextContents(), [
    "success",
    "retrying",
  ]);
  await page
    .getByRole("link", { name: id.slice(0, 10) })
    .first()
    .click();
  await page.waitForURL(`${w.url}/emails/${id}`);
  const attempts = page.locator("[data-attempt]");
  await attempts.first().waitFor();
  const texts = await attempts.allTextContents();
  assert.equal(texts.length, 2);
  assert.match(texts[0], /Attempt 1\s*retrying.*HTTP 503/s);
  assert.match(texts[0], /next attempt at/);
  assert.match(texts[1], /Attempt 2\s*success.*HTTP 200/s);
  assert.match(await page.locator("dl.facts").textContent(), /dropbox/);
  await page.getByText("Payload sent").click();
  assert.match(await page.locator("pre.json").textContent(), new RegExp(id));

  const before = rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id).length;
  await page.getByRole("button", { name: "Replay" }).click();
  await page.locator(".notice-ok").waitFor();
  const again = await eventually(
    () => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id).slice(before)[0],
    { what: "the replayed delivery" },
  );
  assert.equal(
    again.deliveryId,
    rec.requests.find((r) => r.json?.microsoft_graph_email_id === id).deliveryId,
    "replayed with the same delivery id",
  );
});

test("an invalid setting (25:00) is shown beside its field and not saved", async () => {
  await page.goto(`${w.url}/settings`);
  const start = page.locator("#webhook_config-webhook_time_start");
  await start.fill("25:00");
  await page.locator("#webhook_config-webhook_time_end").fill("18:00");
  await page.getByRole("button", { name: "Save webhook and sending window" }).click();
  const error = page.locator("#webhook_config-webhook_time_start-error");
  await error.waitFor({ state: "visible" });
  assert.match(await error.textContent(), /25:00/);
  assert.equal(await start.getAttribute("aria-invalid"), "true");
  const stored = (await w.api("/api/webhook_config")).json.config;
  assert.equal(stored.webhook_time_start, null, "nothing saved");
  assert.equal(stored.webhook_time_end, null);
  // The environment's value is shown with its source.
  assert.match(
    await page.locator('[data-field="retry_delay_sec"] .src').textContent(),
    /environment \(WEBHOOK_RETRY_DELAY\)/,
  );
});

test("a rule is added, tried in the dry-run panel with the draft, then saved", async () => {
  await page.goto(`${w.url}/rules`);
  await page.getByRole("button", { name: "Add a rule" }).click();
  await page.locator("#rules-0-name").fill("Invoices");
  await page.locator("#rules-0-conditions-0-value").fill("invoice");
  await page.locator("#rules-0-actions-webhook_url").fill("https://hooks.receiver.test/invoices");
  await page.locator("#try-subject").fill("Your invoice for May");
  await page.locator("#try-body").fill("<p>Total: 12 €</p>");
  await page.getByRole("button", { name: "Try with the draft rules" }).click();
  const result = page.locator("#try-result");
  await result.locator("[data-fact='Matched rule']").waitFor();
  assert.match(await result.locator("[data-fact='Matched rule']").textContent(), /Invoices/);
  assert.match(await result.textContent(), /→ https:\/\/hooks\.receiver\.test\/\*\*\*/);
  assert.deepEqual(
    (await w.api("/api/routing_rules")).json.config.rules,
    [],
    "trying saves nothing",
  );

  await page.locator("#rules-0-conditions-0-value").fill(" ");
  await page.getByRole("button", { name: "Save rules" }).click();
  const err = page.locator("#rules-0-conditions-0-value-error");
  await err.waitFor({ state: "visible" });
  assert.match(await err.textContent(), /must not be empty/);

  await page.locator("#rules-0-conditions-0-value").fill("invoice");
  await page.getByRole("button", { name: "Save rules" }).click();
  await page.locator(".notice-ok").waitFor();
  const saved = (await w.api("/api/routing_rules")).json.config.rules;
  assert.equal(saved.length, 1);
  assert.equal(saved[0].name, "Invoices");
  assert.equal(saved[0].actions.webhook_url, "https://hooks.receiver.test/invoices");
  assert.equal(
    await page.locator("#rules-0-actions-webhook_url").inputValue(),
    "https://hooks.receiver.test/***",
    "shown masked once saved",
  );
  await w.api("/api/routing_rules", { method: "PUT", body: { rules: [] } });
});

test("a dead letter replayed from the console reaches the receiver; replay all asks first how many", async () => {
  const [one, two] = [
    await delivered("[404-until-replay] one"),
    await delivered("[404-until-replay] two"),
  ];
  await eventually(
    async () =>
      (await w.api("/api/dead_letters")).json.dead_letters.filter((d) =>
        [one, two].includes(d.email_id),
      ).length === 2,
    { what: "two dead letters" },
  );
  replayable.add(one);
  replayable.add(two);
  await page.goto(`${w.url}/dead-letters?email_id=${one}`);
  await page.locator("[data-replay]").click();
  await page.locator(".notice-ok").waitFor();
  await eventually(
    () =>
      rec.requests.find((r) => r.json?.microsoft_graph_email_id === one && r.action.status === 200),
    { what: "the replayed dead letter" },
  );

  await page.goto(`${w.url}/dead-letters?email_id=${two}`);
  await page.getByRole("button", { name: "Replay all matching…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /Replay 1 dead letter matching/);
  await dialog.getByRole("button", { name: "Replay 1" }).click();
  await eventually(
    () =>
      rec.requests.find((r) => r.json?.microsoft_graph_email_id === two && r.action.status === 200),
    { what: "the bulk-replayed dead letter" },
  );
});

test("a target paused from the console parks its deliveries; resumed, it delivers them", async () => {
  const targets = async () => (await w.api("/api/targets")).json.targets;
  const target = (await targets()).find((t) => t.target === "https://hooks.receiver.test/***");
  assert.ok(target, "the configured target is listed");
  await page.goto(`${w.url}/targets`);
  const row = page.locator("#targets tbody tr").filter({ hasText: target.id });
  await row.waitFor();
  assert.match(await row.textContent(), /https:\/\/hooks\.receiver\.test\/\*\*\*/);
  assert.doesNotMatch(
    await page.locator("main").textContent(),
    /hook\/console/,
    "the URL's path is not shown",
  );
  assert.equal(await row.locator("[data-state]").getAttribute("data-state"), "healthy");

  // By keyboard: Escape cancels the confirmation, Enter on Pause and on the dialog's Pause pauses.
  const pause = row.getByRole("button", { name: /^Pause / });
  await pause.focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /will park/);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  assert.equal(
    (await targets()).find((t) => t.id === target.id).state,
    "healthy",
    "cancelled: nothing paused",
  );
  try {
    await pause.focus();
    await page.keyboard.press("Enter");
    await dialog.getByRole("button", { name: "Pause" }).press("Enter");
    await page.locator(".notice-ok").filter({ hasText: "paused" }).waitFor();
    await row.locator('[data-state="paused"]').waitFor();
    assert.equal((await targets()).find((t) => t.id === target.id).state, "paused");
    assert.equal(
      await page.evaluate(() => document.activeElement.textContent),
      "Resume",
      "focus stays on the target's button",
    );

    // Consumers learn a pause within 2 s (docs/flow.md: Receivers that fail for hours): past that,
    // a pushed e-mail parks.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const r = await w.push(email({ subject: `parked while paused ${crypto.randomUUID()}` }));
    assert.equal(r.json.status, "queued", r.text);
    const id = r.json.email_id;
    await eventually(async () => (await w.logs(`email_id=${id}&status=parked`)).length >= 1, {
      what: "the delivery parked",
    });
    await eventually(async () => (await targets()).find((t) => t.id === target.id).parked >= 1, {
      what: "the parked count",
    });
    assert.equal(
      rec.requests.filter((q) => q.json?.microsoft_graph_email_id === id).length,
      0,
      "not attempted while paused",
    );
    assert.equal(
      (await w.api("/api/dead_letters")).json.dead_letters.filter((d) => d.email_id === id).length,
      0,
      "not dead-lettered",
    );
    await page.getByRole("button", { name: "Refresh" }).click();
    await eventually(
      async () => (await row.locator('td[data-label="Parked"]').textContent()) === "1",
      { what: "the parked delivery counted in the list" },
    );

    await row.getByRole("button", { name: /^Resume / }).click();
    await page.locator(".notice-ok").filter({ hasText: "resumed" }).waitFor();
    const got = await eventually(
      () =>
        rec.requests.find(
          (q) => q.json?.microsoft_graph_email_id === id && q.action.status === 200,
        ),
      { what: "the parked e-mail delivered after resume" },
    );
    assert.equal(got.path, "/hook/console");
    await eventually(
      async () =>
        (await targets()).find(
          (t) => t.id === target.id && t.state === "healthy" && t.parked === 0,
        ),
      { what: "the target healthy again" },
    );
    await page.getByRole("button", { name: "Refresh" }).click();
    await row.locator('[data-state="healthy"]').waitFor();
    assert.deepEqual(page.errors, []);
  } finally {
    // Whatever failed above, the next tests need the target delivering.
    if ((await targets()).find((t) => t.id === target.id)?.state === "paused")
      await w.api(`/api/targets/${target.id}/resume`, { method: "POST" });
  }
});

test("send a test e-mail: one click, and the receiver gets it", async () => {
  await page.goto(`${w.url}/`);
  await page.getByRole("button", { name: "Send a test e-mail" }).click();
  await page.locator(".notice-ok").waitFor();
  const link = page.getByRole("link", { name: "Follow it" });
  const id = (await link.getAttribute("href")).split("/").pop();
  const got = await eventually(
    () => rec.requests.find((r) => r.json?.microsoft_graph_email_id === id),
    { what: "the test e-mail" },
  );
  assert.match(got.json.subject, /^Facteur test e-mail/);
});

test("an e-mail carrying <script> and <img onerror> is shown as text and no script runs", async () => {
  const hostile = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`;
  const id = await delivered(`Bonjour ${hostile}`, {
    body: `<p>${hostile}</p><p>https://www.dropbox.com/scl/fo/xss/f?rlkey=k&dl=0&x="><img src=y onerror=window.__pwned=3></p>`,
  });
  for (const path of [`/emails/${id}`, `/deliveries?email_id=${id}`]) {
    await page.goto(`${w.url}${path}`);
    await page.locator("main h1").waitFor();
    await page.waitForLoadState("networkidle");
    assert.equal(
      await page.evaluate(() => window.__pwned),
      undefined,
      `${path}: no injected script ran`,
    );
    assert.equal(
      await page.locator("main script, main img").count(),
      0,
      `${path}: no element made from the e-mail`,
    );
  }
  await page.goto(`${w.url}/emails/${id}`);
  assert.ok(
    (await page.locator("#subject").textContent()).includes(hostile),
    "the subject shown as text",
  );
  await page.getByText("Payload sent").click();
  assert.ok(
    (await page.locator("pre.json").textContent()).includes("onerror"),
    "the body shown as text",
  );
  assert.equal(await page.evaluate(() => window.__pwned), undefined);

  await page.goto(`${w.url}/rules`);
  await page.locator("#try-subject").fill(hostile);
  await page.locator("#try-body").fill(`<p>${hostile}</p>`);
  await page.getByRole("button", { name: "Try with the draft rules" }).click();
  await page.getByText("Payload").first().click();
  await page.locator("#try-result pre.json").waitFor({ state: "attached" });
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "the dry run's payload too");
  assert.deepEqual(page.errors, [], "no script error in any page");
});

test("every page works by keyboard and fits a 390-px phone screen", async () => {
  await page.goto(`${w.url}/`);
  await page.locator("main h1").waitFor();
  // Tab from the top: the skip link first, then the menu, in order.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  let reached = false;
  for (let i = 0; i < 8 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = (await page.evaluate(() => document.activeElement.textContent)) === "Deliveries";
  }
  assert.ok(reached, "the menu is reached by Tab");
  await page.keyboard.press("Enter");
  await page.waitForURL(`${w.url}/deliveries`);

  const phone = await browser.newPage(390);
  try {
    for (const path of [
      "/",
      "/deliveries",
      "/dead-letters",
      "/targets",
      "/settings",
      "/rules",
      "/audit",
    ]) {
      await phone.goto(`${w.url}${path}`);
      await phone.locator("main h1").waitFor();
      const overflow = await phone.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      assert.ok(overflow <= 0, `${path}: ${overflow} px wider than the screen`);
    }
    assert.deepEqual(phone.errors, []);
  } finally {
    await phone.close();
  }
});

test("the Audit page lists each change with who, from where and what, and filters them", async () => {
  // The changes of the tests before (a sign-in, rules saved, a target paused and resumed,
  // a dead letter replayed), and one by the bearer token.
  await w.api("/api/runtime_flags", {
    method: "PUT",
    body: { allow_custom_webhook_without_links: true },
  });
  await page.goto(`${w.url}/audit`);
  await page.getByRole("heading", { name: "Audit" }).waitFor();
  const rows = page.locator("table.data tbody tr");
  await rows.first().waitFor();
  const text = await page.locator("table.data").textContent();
  for (const want of [
    "Signed in",
    "Settings changed",
    "runtime_flags",
    "admin token",
    "Target paused",
  ])
    assert.ok(text.includes(want), `${want} on the Audit page`);
  const me = (await page.evaluate(() => fetch("/api/session").then((r) => r.json()))).session;
  assert.ok(text.includes(`session ${me}`), "the console's own session, by its tag");
  // Filter by action, through the form (a GET: the filter is the URL).
  await page.getByLabel("Action").selectOption("target_paused");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/action=target_paused/);
  await rows.first().waitFor();
  const actions = await page.locator("table.data tbody td[data-label=Action]").allTextContents();
  assert.ok(actions.length >= 1 && actions.every((a) => a === "Target paused"), actions.join());
  // The details of an entry open by keyboard.
  const summary = page.locator("table.data summary").first();
  await summary.focus();
  await page.keyboard.press("Enter");
  assert.match(await page.locator("table.data pre.json").first().textContent(), /target_id/);
  assert.deepEqual(page.errors, []);
});

test("past the failed-attempt limit the sign-in page says to wait, even with the right password", async () => {
  const other = await browser.newPage();
  try {
    // This browser's requests come from 127.0.0.1; the limit counts per client.
    for (let n = 0; n < 5; n++) {
      const r = await fetch(`${w.url}/api/session`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": "127.0.0.1" },
        body: JSON.stringify({ password: `wrong-${n}` }),
      });
      assert.ok([401, 429].includes(r.status), String(r.status));
    }
    await other.context().clearCookies();
    await other.goto(`${w.url}/login`);
    await other.getByLabel("Password").fill(ADMIN_TOKEN);
    await other.getByRole("button", { name: "Sign in" }).click();
    const error = other.locator("#login-error");
    await error.waitFor({ state: "visible" });
    assert.match(await error.textContent(), /Too many failed attempts.*Try again in \d+ min/);
    assert.equal(new URL(other.url()).pathname, "/login");
  } finally {
    await other.close();
  }
});
