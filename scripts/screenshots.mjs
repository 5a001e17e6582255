// Regenerates the console's screenshots in docs/: every page at 1280 px (desktop) and 390 px
// (phone), against the built worker in workerd with sample deliveries (a retried one, a failed
// one kept as a dead letter, detected e-mails with links, a routing rule, a target paused by
// hand with a delivery parked, a burst of failed sign-ins and the changes in the audit, a Gmail
// mailbox connected to the fake Google of the tests with e-mails taken by the push and by the
// Apps Script). `make screenshots`.
import fs from "node:fs";
import path from "node:path";
import { email, ADMIN_TOKEN, ROOT } from "../tests/harness/worker.mjs";
import { startStack } from "../tests/harness/stack.mjs";
import { eventually } from "../tests/harness/ports.mjs";
import { launchBrowser, signIn } from "../tests/harness/browser.mjs";
import { startGoogle, connectGmail, rfc822, GMAIL_VARS } from "../tests/harness/google.mjs";

const OUT = path.join(ROOT, "docs");
const stack = await startStack({
  receiverHosts: ["hook.eu2.make.com", "hooks.example.com"],
  plan: (r) => {
    const s = r.json?.subject ?? "";
    if (s.includes("Facture")) return { status: 404 };
    if (s.includes("Lot 12") && r.attempt === 1) return { status: 503 };
    return { status: 200, delayMs: 40 + (s.length % 7) * 25 };
  },
  vars: {
    ...GMAIL_VARS,
    WEBHOOK_URL: "https://hook.eu2.make.com/abcdef1234567890",
    WEBHOOK_RETRY_DELAY: "1",
    WEBHOOK_TIMEOUT_SEC: "5",
    // A burst of failures is summarised 2 s after the last one (10 minutes by default).
    AUTH_BURST_QUIET_SECS: "2",
  },
});
const w = stack.worker;
const google = startGoogle(stack.network, { email: "studio.facteur@gmail.com" });
const browser = await launchBrowser();
try {
  await w.api("/api/routing_rules", {
    method: "PUT",
    body: {
      rules: [
        {
          id: "studio",
          name: "Studio lab",
          conditions: [{ field: "sender", operator: "equals", value: "lab@studio.example" }],
          actions: {
            webhook_url: "https://hooks.example.com/studio/9f8e7d6c",
            priority: "high",
            stop_processing: true,
          },
        },
      ],
    },
  });
  await w.api("/api/processing_prefs", {
    method: "PUT",
    body: { retry_count: 4, exclude_keywords: ["newsletter"] },
  });
  const link = (n) => `https://www.dropbox.com/scl/fo/k${n}x7/h?rlkey=r${n}&dl=0`;
  const now = Date.now();
  const emails = [
    {
      subject: "Média Solution - Missions Recadrage - Lot 12",
      sender: "Planning <planning@media-solution.example>",
      body: `<p>À faire pour 16h30</p><p>${link(1)}</p>`,
    },
    {
      subject: "Média Solution - Missions Recadrage - Lot 13 URGENCE",
      sender: "Planning <planning@media-solution.example>",
      body: `<p>Photos : ${link(2)}</p>`,
    },
    {
      subject: "Nouvelles photos du studio",
      sender: "Studio <lab@studio.example>",
      body: `<p>${link(3)}</p><p>https://fromsmash.com/Studio-set-4</p>`,
    },
    {
      subject: "Désabonnement journée — tarifs habituels",
      sender: "Agence <contact@agence.example>",
      body: "<p>Je souhaite me désabonner de la journée aux tarifs habituels.</p>",
    },
    { subject: "Facture de mai", sender: "Compta <compta@example.com>", body: `<p>${link(5)}</p>` },
    {
      subject: "Séance du 4 mai",
      sender: "Client <client@example.org>",
      body: `<p>${link(6)}</p>`,
    },
  ].map((e, i) => email({ ...e, date: new Date(now - i * 60_000).toISOString() }));
  const ids = [];
  for (const e of emails) ids.push((await w.push(e)).json.email_id);
  await eventually(
    async () => {
      const logs = await w.logs("days=1");
      return ids.every((id) =>
        logs.some(
          (l) => l.email_id === id && ["success", "error", "skipped", "held"].includes(l.status),
        ),
      );
    },
    { what: "sample deliveries", timeoutMs: 60_000 },
  );
  await eventually(async () => (await w.api("/api/dead_letters")).json.count > 0, {
    what: "a dead letter",
  });
  // The rule's target paused by hand, then (once consumers see the pause, within 2 s) one of
  // its e-mails parked.
  const studio = (await w.api("/api/targets")).json.targets.find(
    (t) => t.target === "https://hooks.example.com/***",
  );
  await w.api(`/api/targets/${studio.id}/pause`, { method: "POST" });
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  const parked = (
    await w.push(
      email({
        subject: "Retouches studio, série 2",
        sender: "Studio <lab@studio.example>",
        body: `<p>${link(7)}</p>`,
      }),
    )
  ).json.email_id;
  await eventually(async () => (await w.logs(`email_id=${parked}&status=parked`)).length > 0, {
    what: "a parked delivery",
  });

  // A burst of wrong passwords from three addresses, for the Audit page: one summary entry.
  for (const [ip, n] of [
    ["203.0.113.66", 7],
    ["198.51.100.23", 3],
    ["2001:db8:4:2::17", 2],
  ]) {
    for (let i = 0; i < n; i++)
      await fetch(`${w.url}/api/session`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip },
        body: JSON.stringify({ password: `guess-${i}` }),
      });
  }
  await eventually(async () => (await w.api("/api/audit?action=failed_attempts")).json.count > 0, {
    what: "the burst's summary",
  });
  // Gmail push: the mailbox connected, three e-mails taken by the push, one by the Apps Script.
  await connectGmail(w, google);
  for (const subject of ["Séance photo du 12 mai", "Lot 14 — retouches", "Planning semaine 20"]) {
    const m = google.deliver(
      rfc822({
        from: "Planning <planning@media-solution.example>",
        subject,
        html: `<p>${link(8)}</p>`,
      }),
    );
    await google.pushNotification(w, { historyId: m.historyId });
  }
  await w.push(email({ subject: "Envoi depuis le script", body: `<p>${link(9)}</p>` }));
  await eventually(
    async () => {
      const g = (await w.api("/api/gmail")).json;
      return g.taken.push === 3 && g.taken.script === 1;
    },
    { what: "the Gmail figures" },
  );

  fs.mkdirSync(OUT, { recursive: true });
  for (const [width, label] of [
    [1280, "desktop"],
    [390, "phone"],
  ]) {
    await browser.context.clearCookies();
    const page = await browser.newPage(width);
    await page.emulateMedia({ colorScheme: "light" });
    const shot = async (name, url, prepare) => {
      await page.goto(`${w.url}${url}`);
      await page.locator("main h1").first().waitFor();
      await page.waitForLoadState("networkidle");
      if (prepare) await prepare(page);
      const file = path.join(OUT, `console-${name}-${label}.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.log(path.relative(ROOT, file));
    };
    await shot("sign-in", "/login");
    await signIn(page, w.url, ADMIN_TOKEN);
    await shot("overview", "/");
    await shot("deliveries", "/deliveries");
    await shot("timeline", `/emails/${ids[0]}`, (p) => p.getByText("Payload sent").first().click());
    await shot("dead-letters", "/dead-letters");
    await shot("targets", "/targets");
    await shot("gmail", "/gmail");
    await shot("settings", "/settings", async (p) => {
      await p.locator("#webhook_config-webhook_time_start").fill("25:00");
      await p.getByRole("button", { name: "Save webhook and sending window" }).click();
      await p.locator("#webhook_config-webhook_time_start-error").waitFor({ state: "visible" });
    });
    await shot("rules", "/rules", async (p) => {
      await p.locator("#try-subject").fill("Nouvelles photos du studio");
      await p.locator("#try-sender").fill("Studio <lab@studio.example>");
      await p.locator("#try-body").fill(`<p>${link(3)}</p>`);
      await p.getByRole("button", { name: "Try with the draft rules" }).click();
      await p.locator("#try-result [data-fact='Matched rule']").waitFor();
    });
    await shot("audit", "/audit", async (p) => {
      await p.locator("table.data tbody tr").first().waitFor();
      // The burst's details open, as an operator would look at them.
      const burst = p.locator("tr", { hasText: "Failed attempts" }).locator("summary").first();
      await burst.click();
    });
    await page.close();
  }
} finally {
  await browser.close();
  await stack.stop();
}
