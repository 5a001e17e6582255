// The console's Gmail page in real headless Chromium, against the built worker in workerd and
// the fake Google (tests/harness/google.mjs; the browser's requests to accounts.google.com are
// answered by the fake's consent page through Playwright's routing): "Connect Gmail" through
// Google's consent and back, an e-mail taken by the push counted, "Sync now", a revoked refresh
// token shown as the "Reconnect Gmail" banner on every page, reconnecting from the banner, and
// "Disconnect" after its confirmation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { ADMIN_TOKEN } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";
import { launchBrowser, signIn } from "../harness/browser.mjs";
import { startGoogle, rfc822, GMAIL_VARS } from "../harness/google.mjs";

let stack, w, rec, google, browser, page;

before(async () => {
  stack = await startStack({
    vars: {
      ...GMAIL_VARS,
      WEBHOOK_URL: "https://hooks.receiver.test/hook",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
    },
  });
  ({ worker: w, receiver: rec } = stack);
  google = startGoogle(stack.network);
  browser = await launchBrowser();
  // Google's consent page, as the fake answers it (a redirect back with a code).
  await browser.context.route("https://accounts.google.com/**", (route) =>
    route.fulfill({ status: 302, headers: { Location: google.authorize(route.request().url()) } }),
  );
  page = await browser.newPage();
  await signIn(page, w.url, ADMIN_TOKEN);
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const facts = () => page.locator("#gmail-facts").textContent();

test("Connect Gmail: Google's consent, back on the Gmail page with the mailbox shown", async () => {
  await page.goto(`${w.url}/gmail`);
  await page.getByRole("heading", { name: "Gmail push" }).waitFor();
  assert.match(await facts(), /Mailbox\s*not connected/);
  await page.getByRole("button", { name: "Connect Gmail" }).click();
  await page.waitForURL(`${w.url}/gmail`);
  await page.getByText("Gmail connected: me@example.com.").waitFor();
  assert.equal(await page.locator("[data-mailbox]").textContent(), "me@example.com");
  assert.match(await facts(), /Watch expires.*\(in 7 days\)/s);
  assert.match(await facts(), /Label\s*facteur\/to-push/);
  assert.deepEqual(page.errors, []);
});

test("an e-mail taken by the push is counted; Sync now runs a pass", async () => {
  const subject = `console push ${crypto.randomUUID()}`;
  const m = google.deliver(rfc822({ subject, text: "hello" }));
  await google.pushNotification(w, { historyId: m.historyId });
  await eventually(() => rec.requests.some((r) => r.json?.subject === subject), {
    what: "the webhook",
  });
  await page.goto(`${w.url}/gmail`);
  await page.locator("[data-taken=push] .value").waitFor();
  assert.equal(await page.locator("[data-taken=push] .value").textContent(), "1");
  await page.getByRole("button", { name: "Sync now" }).click();
  await page.getByText("A sync pass runs now.").waitFor();
  await page.locator("[data-sync=ok]").waitFor();
});

test("a revoked refresh token: the banner on every page, and reconnecting from it", async () => {
  google.revoke();
  // The access token held is refused (401), then the refresh answers invalid_grant.
  await w.api("/api/gmail/sync", { method: "POST" });
  await eventually(
    async () => {
      const g = (await w.api("/api/gmail")).json;
      if (g.last_sync?.outcome === "retry") await w.api("/api/gmail/sync", { method: "POST" });
      return g.reconnect_needed;
    },
    { what: "reconnect needed" },
  );
  for (const path of ["/", "/deliveries", "/settings"]) {
    await page.goto(`${w.url}${path}`);
    const banner = page.locator("#gmail-banner");
    await banner.waitFor();
    assert.match(await banner.textContent(), /Reconnect Gmail.*Apps Script keeps delivering/s);
  }
  await page.goto(`${w.url}/gmail`);
  await page.locator("#gmail-reconnect").waitFor();
  assert.equal(await page.getByRole("button", { name: "Sync now" }).isDisabled(), true);

  await page.goto(`${w.url}/`);
  await page.locator("#gmail-banner").getByRole("button", { name: "Reconnect Gmail" }).click();
  await page.waitForURL(`${w.url}/gmail`);
  await page.getByText("Gmail connected: me@example.com.").waitFor();
  await page.goto(`${w.url}/`);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.waitForLoadState("networkidle");
  assert.equal(await page.locator("#gmail-banner").count(), 0, "the banner is gone");
});

test("a connection refused on Google's page comes back with the reason", async () => {
  await browser.context.unroute("https://accounts.google.com/**");
  await browser.context.route("https://accounts.google.com/**", (route) =>
    route.fulfill({
      status: 302,
      headers: { Location: google.authorize(route.request().url(), { deny: true }) },
    }),
  );
  await page.goto(`${w.url}/gmail`);
  await page.getByRole("button", { name: "Reconnect Gmail" }).click();
  await page.waitForURL(`${w.url}/gmail`);
  await page
    .getByText("Gmail was not connected: Access was not granted on Google's page.")
    .waitFor();
  assert.equal(
    await page.locator("[data-mailbox]").textContent(),
    "me@example.com",
    "still connected",
  );
});

test("Disconnect asks first, then the page shows no mailbox; no page is wider than a phone", async () => {
  await page.goto(`${w.url}/gmail`);
  await page.getByRole("button", { name: "Disconnect" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Disconnect" }).click();
  await page.getByText("Gmail disconnected.").waitFor();
  await page.locator("[data-mailbox]").waitFor({ state: "detached" });
  assert.match(await facts(), /Mailbox\s*not connected/);
  const phone = await browser.newPage(390);
  await phone.goto(`${w.url}/gmail`);
  await phone.getByRole("heading", { name: "Gmail push" }).waitFor();
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `page width ${width}`);
  await phone.close();
});
