// Signing-key rotation (issue #13): WEBHOOK_SIGNING_SECRET holds one or more secrets, each signs
// every webhook (Standard Webhooks: one `v1,<sig>` per secret, space-separated). A receiver
// that verifies with the secret(s) it knows, and answers 401 otherwise, sees no failed delivery
// through the three steps of a rotation: old secret; old and new together (the receiver moves
// from the old to the new meanwhile); new secret only.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { email } from "../harness/worker.mjs";
import { startStack } from "../harness/stack.mjs";
import { eventually } from "../harness/ports.mjs";

const OLD = "whsec_" + Buffer.from("facteur-rotation-old-key").toString("base64");
const NEW = "whsec_" + Buffer.from("facteur-rotation-new-key!").toString("base64");
const RAW = "a-raw-secret,-not-base64";

const keyOf = (secret) =>
  secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret);

/** A receiver's check, as the Standard Webhooks libraries do it: any signature of the header
 * that verifies with any secret the receiver knows, and a fresh timestamp. */
function verifies(req, secrets) {
  const id = req.headers["webhook-id"];
  const ts = req.headers["webhook-timestamp"];
  const header = req.headers["webhook-signature"];
  if (!id || !ts || !header) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const expected = secrets.map((s) =>
    crypto
      .createHmac("sha256", keyOf(s))
      .update(`${id}.${ts}.`)
      .update(Buffer.from(req.raw, "utf8"))
      .digest(),
  );
  return header.split(" ").some((part) => {
    const [version, sig] = part.split(",");
    if (version !== "v1" || !sig) return false;
    const got = Buffer.from(sig, "base64");
    return expected.some((e) => e.length === got.length && crypto.timingSafeEqual(e, got));
  });
}

// What the receiver knows right now; its plan answers 401 when nothing verifies.
let receiverSecrets = [OLD];
const plan = (r) => (verifies(r, receiverSecrets) ? { status: 200 } : { status: 401 });

let stack;
after(() => stack?.stop());

async function deployWith(secretValue) {
  await stack?.stop();
  stack = null;
  stack = await startStack({
    plan,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/rotation",
      ALLOW_CUSTOM_WEBHOOK_WITHOUT_LINKS: "true",
      WEBHOOK_RETRY_COUNT: "0",
      WEBHOOK_SIGNING_SECRET: secretValue,
    },
  });
  return stack;
}

/** Pushes `n` e-mails and waits for each one's final log line; answers [log, request] pairs. */
async function deliverSome(n) {
  const w = stack.worker;
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await w.push(email({ subject: `rotation ${crypto.randomUUID()}` }));
    assert.equal(r.json.status, "queued", r.text);
    const id = r.json.email_id;
    const log = await eventually(
      async () =>
        (await w.logs(`email_id=${id}`)).find(
          (l) => l.status === "success" || l.status === "error",
        ),
      { what: `final log of ${id}` },
    );
    const req = stack.receiver.requests.find((q) => q.json?.microsoft_graph_email_id === id);
    out.push([log, req]);
  }
  return out;
}

function assertAllVerified(results, what) {
  for (const [log, req] of results) {
    assert.equal(
      req.action.status,
      200,
      `${what}: the receiver refused the signature ${req.headers["webhook-signature"]}`,
    );
    assert.equal(log.status, "success", `${what}: ${JSON.stringify(log)}`);
  }
}

test("step 1, the old secret alone: one signature, verified by the receiver", async () => {
  await deployWith(OLD);
  receiverSecrets = [OLD];
  const results = await deliverSome(3);
  assertAllVerified(results, "old secret");
  assert.equal(results[0][1].headers["webhook-signature"].split(" ").length, 1);
});

test("step 2, old and new together: receivers on the old, on the new, or on either all verify", async () => {
  await deployWith(`${NEW}  ${OLD}`);
  receiverSecrets = [OLD];
  const onOld = await deliverSome(3);
  assertAllVerified(onOld, "receiver still on the old secret");
  const header = onOld[0][1].headers["webhook-signature"];
  assert.equal(header.split(" ").length, 2, header);
  assert.ok(
    header.split(" ").every((p) => p.startsWith("v1,")),
    header,
  );
  receiverSecrets = [NEW];
  assertAllVerified(await deliverSome(3), "receiver moved to the new secret");
  receiverSecrets = [OLD, NEW];
  assertAllVerified(await deliverSome(2), "receiver accepting either");
});

test("step 3, the new secret alone: verified; a receiver left on the old secret would refuse", async () => {
  await deployWith(NEW);
  receiverSecrets = [NEW];
  assertAllVerified(await deliverSome(3), "new secret");
  receiverSecrets = [OLD, NEW];
  assertAllVerified(await deliverSome(1), "receiver accepting either");
  // The control: the check above can fail. A receiver that never moved refuses the webhook.
  receiverSecrets = [OLD];
  const [[log, req]] = await deliverSome(1);
  assert.equal(req.action.status, 401);
  assert.equal(log.status, "error");
  assert.equal(log.status_code, 401);
});

test("a raw secret can be rotated in too, and a whsec_ secret that is not base64 stops the worker with misconfigured", async () => {
  await deployWith(`${NEW} ${RAW}`);
  receiverSecrets = [RAW];
  assertAllVerified(await deliverSome(1), "raw secret");
  await deployWith(`${NEW} whsec_%%%`);
  const health = await stack.worker.api("/api/webhook_logs");
  assert.equal(health.status, 500);
  assert.equal(health.json.code, "misconfigured");
  assert.match(health.json.message, /WEBHOOK_SIGNING_SECRET: secret 2 of 2/);
  assert.ok(
    !health.text.includes("%%%") && !health.text.includes(NEW.slice(6)),
    "no secret in the answer",
  );
});
