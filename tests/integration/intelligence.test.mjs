// SPEC §3, §4, §5, §7 through the running worker: detectors, links, routing rules and the full
// payload as the receiver gets it; the dry run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually, sleep } from "../harness/ports.mjs";

let stack, rec, w;
before(async () => {
  stack = await startStack({ vars: { WEBHOOK_URL: "https://hooks.receiver.test/default" } });
  ({ receiver: rec, worker: w } = stack);
});
after(() => stack?.stop());

// Without a provider link an e-mail is skipped (allow_custom_webhook_without_links is false).
const LINK = "<p>Bonjour https://fromsmash.com/abc</p>";
const received = (id) => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id);
async function deliveredOnce(e, count = 1) {
  const r = await w.push(e);
  assert.equal(r.json.status, "queued", JSON.stringify(r.json));
  const reqs = await eventually(
    () => (received(r.json.email_id).length >= count ? received(r.json.email_id) : null),
    { what: "delivery" },
  );
  return reqs;
}

const RECADRAGE_BODY = `<html><body><p>Bonjour,</p>
<p>Mission à faire pour le 5/3/2026 à 14h30 merci.</p>
<p><a href="https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&amp;dl=0">Dossier</a>
 et https://fromsmash.com/Lot-42-Photos.</p>
<p>Doublon: https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&amp;dl=0</p>
<img src="https://www.dropbox.com/scl/fi/zz/ms-logo.png?raw=1"></body></html>`;

test("a recadrage e-mail: detector, delivery time, links and every payload field", async () => {
  const e = email({
    subject: `Média Solution - Missions Recadrage - Lot 42 ${crypto.randomUUID()}`,
    body: RECADRAGE_BODY,
  });
  const [req] = await deliveredOnce(e);
  const p = req.json;
  assert.equal(p.detector, "recadrage");
  assert.equal(p.delivery_time, "le 05/03/2026 à 14h30");
  assert.deepEqual(p.delivery_links, [
    {
      provider: "dropbox",
      raw_url: "https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&dl=0",
      direct_url: "https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&dl=1",
    },
    {
      provider: "fromsmash",
      raw_url: "https://fromsmash.com/Lot-42-Photos",
      direct_url: "https://fromsmash.com/Lot-42-Photos",
    },
  ]);
  assert.equal(
    p.first_direct_download_url,
    "https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&dl=1",
  );
  assert.deepEqual(p.dropbox_urls, [
    "https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&dl=0",
  ]);
  assert.equal(
    p.dropbox_first_url,
    "https://www.dropbox.com/scl/fo/abc123/def456?rlkey=xyz789&dl=1",
  );
  assert.equal(p.subject, e.subject);
  assert.equal(p.sender_address, e.sender);
  assert.equal(p.sender_email, "sender@example.com");
  assert.equal(p.receivedDateTime, e.date);
  assert.equal(p.email_content, e.body);
  assert.equal(p.bodyPreview, [...e.body].slice(0, 200).join(""));
  assert.equal(p.source, "gmail_push");
  assert.equal(p.webhooks_time_start, null);
  assert.equal(p.webhooks_time_end, null);
  const log = await eventually(
    async () => (await w.logs(`email_id=${p.microsoft_graph_email_id}&status=success`))[0],
    { what: "log" },
  );
  assert.equal(log.detector, "recadrage");
  assert.equal(log.delivery_links_count, 2);
});

test("a désabonnement e-mail with its urgency flag", async () => {
  const body =
    "<p>Journée&nbsp;à tarifs habituels : vous pouvez vous DÉSABONNER ici https://www.dropbox.com/request/AbC</p>";
  const [plain] = await deliveredOnce(email({ subject: `Info ${crypto.randomUUID()}`, body }));
  assert.equal(plain.json.detector, "desabonnement_journee_tarifs");
  assert.equal(plain.json.delivery_time, undefined);
  assert.equal(plain.json.delivery_links[0].raw_url, "https://www.dropbox.com/request/AbC");
  const [urgent] = await deliveredOnce(
    email({ subject: `URGENT désabonnement ${crypto.randomUUID()}`, body }),
  );
  assert.equal(urgent.json.detector, "desabonnement_journee_tarifs");
  const near = await w.api("/api/test/dry_run", {
    method: "POST",
    body: email({ body: body + " facture" }),
  });
  assert.equal(near.json.detector, null, "a forbidden word (facture) means no detector");
});

test("recadrage subjects are compared without collapsing whitespace (SPEC §3), only DESABO collapses", async () => {
  const body = "<p>à faire pour 10h https://fromsmash.com/abc</p>";
  const cases = [
    ["Média Solution - Missions Recadrage - Lot 2", "recadrage"], // the literal marker
    ["MEDIA SOLUTION / MISSIONS RECADRAGE / LOT 2", "recadrage"], // norm contains all the words
    ["Média Solution  -  Missions Recadrage  -  Lot 2", "recadrage"], // extra spaces outside the words
    ["Média  Solution  -  Missions  Recadrage - Lot 2", null], // double spaces inside the words
    ["Média\u00a0Solution - Missions Recadrage - Lot 2", null], // NBSP inside media solution
    ["Média Solution - Missions\tRecadrage - Lot 2", null], // tab inside missions recadrage
  ];
  for (const [subject, detector] of cases) {
    const r = await w.api("/api/test/dry_run", { method: "POST", body: email({ subject, body }) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.detector, detector, JSON.stringify(subject));
    assert.equal(r.json.deliveries[0].payload.detector ?? null, detector, JSON.stringify(subject));
    assert.equal(
      r.json.deliveries[0].payload.delivery_time,
      detector ? "10h00" : undefined,
      JSON.stringify(subject),
    );
  }
  // Not recadrage, the same e-mail can be a DESABO, whose test collapses whitespace.
  const desabo = await w.api("/api/test/dry_run", {
    method: "POST",
    body: email({
      subject: "Média  Solution  -  Missions  Recadrage - Lot 2",
      body: "<p>Journée  tarifs\u00a0habituels, se désabonner https://fromsmash.com/abc 10h</p>",
    }),
  });
  assert.equal(desabo.json.detector, "desabonnement_journee_tarifs");
});

test("routing rules: validation names the rule and the field", async () => {
  const cases = [
    [
      {
        rules: [
          {
            name: "",
            conditions: [{ field: "sender", operator: "equals", value: "a" }],
            actions: { webhook_url: "https://x.test/a" },
          },
        ],
      },
      /name/,
    ],
    [
      { rules: [{ name: "R", conditions: [], actions: { webhook_url: "https://x.test/a" } }] },
      /condition/,
    ],
    [
      {
        rules: [
          {
            name: "R",
            conditions: [{ field: "cc", operator: "equals", value: "a" }],
            actions: { webhook_url: "https://x.test/a" },
          },
        ],
      },
      /field/,
    ],
    [
      {
        rules: [
          {
            name: "R",
            conditions: [{ field: "sender", operator: "like", value: "a" }],
            actions: { webhook_url: "https://x.test/a" },
          },
        ],
      },
      /operator/,
    ],
    [
      {
        rules: [
          {
            name: "R",
            conditions: [{ field: "sender", operator: "regex", value: "(" }],
            actions: { webhook_url: "https://x.test/a" },
          },
        ],
      },
      /regex/,
    ],
    [
      {
        rules: [
          {
            name: "R",
            conditions: [{ field: "sender", operator: "regex", value: "a".repeat(201) }],
            actions: { webhook_url: "https://x.test/a" },
          },
        ],
      },
      /200/,
    ],
    [
      {
        rules: [
          {
            name: "R",
            conditions: [{ field: "sender", operator: "equals", value: "a" }],
            actions: { webhook_url: "http://x.test/a" },
          },
        ],
      },
      /https/,
    ],
    [
      {
        rules: [
          {
            name: "R",
            conditions: [{ field: "sender", operator: "equals", value: "a" }],
            actions: { webhook_url: "https://x.test/a", priority: "urgent" },
          },
        ],
      },
      /priority/,
    ],
    [{ nope: 1 }, /rules/],
  ];
  for (const [doc, re] of cases) {
    const r = await w.api("/api/routing_rules", { method: "PUT", body: doc });
    assert.equal(r.status, 400, JSON.stringify(doc));
    assert.match(r.json.message, re);
  }
  const second = await w.api("/api/routing_rules", {
    method: "PUT",
    body: {
      rules: [
        {
          name: "ok",
          conditions: [{ field: "sender", operator: "equals", value: "a" }],
          actions: { webhook_url: "https://x.test/a" },
        },
        {
          name: "Second",
          conditions: [{ field: "subject", operator: "contains", value: "" }],
          actions: { webhook_url: "https://x.test/a" },
        },
      ],
    },
  });
  assert.equal(second.status, 400);
  assert.match(second.json.message, /Second|rules\[1\]|#2/, "names the failing rule");
});

test("a matching rule fans out to its URL and the default; stop_processing keeps only the rule", async () => {
  const put = await w.api("/api/routing_rules", {
    method: "PUT",
    body: {
      rules: [
        {
          id: "vip",
          name: "VIP",
          conditions: [{ field: "sender", operator: "equals", value: "vip@example.com" }],
          actions: {
            webhook_url: "https://hooks.receiver.test/vip",
            priority: "high",
            stop_processing: false,
          },
        },
        {
          id: "lot",
          name: "Lots",
          conditions: [{ field: "subject", operator: "regex", value: "lot\\s+\\d+" }],
          actions: { webhook_url: "https://hooks.receiver.test/lots", stop_processing: true },
        },
      ],
    },
  });
  assert.equal(put.status, 200, put.text);
  const got = await w.api("/api/routing_rules");
  assert.equal(got.json.config.rules.length, 2);
  assert.match(got.json.config._updated_at, /^\d{4}-/);

  const reqs = await deliveredOnce(
    email({ sender: "VIP <VIP@example.com>", subject: `VIP ${crypto.randomUUID()}`, body: LINK }),
    2,
  );
  assert.deepEqual(reqs.map((r) => r.path).sort(), ["/default", "/vip"]);
  assert.notEqual(reqs[0].deliveryId, reqs[1].deliveryId, "one delivery id per target");
  assert.deepEqual(reqs[0].json, reqs[1].json, "the same payload to both");

  const only = await deliveredOnce(
    email({ subject: `Facture LOT  12 ${crypto.randomUUID()}`, body: LINK }),
  );
  await sleep(1_500);
  const all = received(only[0].json.microsoft_graph_email_id);
  assert.deepEqual(
    all.map((r) => r.path),
    ["/lots"],
    "stop_processing: no default delivery",
  );

  const none = await deliveredOnce(
    email({ subject: `Nothing ${crypto.randomUUID()}`, body: LINK }),
  );
  assert.equal(none[0].path, "/default");
  await w.api("/api/routing_rules", { method: "PUT", body: { rules: [] } });
});

test("the dry run returns the exact payload and targets, and sends nothing", async () => {
  const e = email({
    subject: `Média Solution - Missions Recadrage - Lot 7 ${crypto.randomUUID()}`,
    body: RECADRAGE_BODY,
  });
  const before = rec.requests.length;
  const dry = await w.api("/api/test/dry_run", { method: "POST", body: e });
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.decision, "deliver");
  assert.equal(dry.json.deliveries.length, 1);
  assert.equal(dry.json.deliveries[0].webhook_url, "https://hooks.receiver.test/***");
  await sleep(1_500);
  assert.equal(rec.requests.length, before, "nothing sent");
  const [req] = await deliveredOnce(e);
  assert.deepEqual(dry.json.deliveries[0].payload, req.json, "dry-run payload = delivered payload");
  assert.equal(dry.json.deliveries[0].delivery_id, req.deliveryId);

  const tryRule = await w.api("/api/test/dry_run", {
    method: "POST",
    body: {
      ...email({ body: LINK }),
      routing_rules: {
        rules: [
          {
            name: "All",
            conditions: [{ field: "body", operator: "contains", value: "bonjour" }],
            actions: { webhook_url: "https://hooks.receiver.test/try", stop_processing: true },
          },
        ],
      },
    },
  });
  assert.equal(tryRule.json.matched_rule.name, "All");
  assert.equal(tryRule.json.deliveries[0].target_url, "https://hooks.receiver.test/try");
  assert.equal(
    (await w.api("/api/routing_rules")).json.config.rules.length,
    0,
    "the tried rule is not saved",
  );
  const bad = await w.api("/api/test/dry_run", { method: "POST", body: { body: "x" } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, "Missing field: sender");
  assert.equal(
    (await w.api("/api/test/dry_run", { method: "POST", body: email(), auth: null })).status,
    401,
  );
});

test("mirror_media_to_custom off: links are not sent", async () => {
  await w.api("/api/processing_prefs", { method: "PUT", body: { mirror_media_to_custom: false } });
  try {
    const [req] = await deliveredOnce(
      email({
        subject: `Média Solution - Missions Recadrage - Lot 9 ${crypto.randomUUID()}`,
        body: RECADRAGE_BODY,
      }),
    );
    assert.deepEqual(req.json.delivery_links, []);
    assert.equal(req.json.first_direct_download_url, null);
    assert.equal(req.json.detector, "recadrage", "detection still sees the links");
  } finally {
    await w.api("/api/processing_prefs", { method: "PUT", body: { mirror_media_to_custom: null } });
  }
});
