// SPEC §10 with both workers running in workerd: link enrichment through the r2-fetch service
// binding, a 300 MB offload with flat memory, Content-Disposition, the ZIP check, refusals,
// link pairs, local serving and the cleanup job.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { email, startWorker, ROOT } from "../harness/worker.mjs";
import { startStack, R2_TOKEN } from "../harness/stack.mjs";
import { expectedSha256 } from "../harness/filehost.mjs";
import { eventually } from "../harness/ports.mjs";

const MB = 1 << 20;
/** The cleanup's cron, as src/handlers/scheduled.rs names it. */
const CLEANUP_CRON = /CLEANUP_CRON: &str = "([^"]+)"/.exec(
  fs.readFileSync(path.join(ROOT, "src/handlers/scheduled.rs"), "utf8"),
)[1];
let stack, rec, files, w, r2;

before(async () => {
  stack = await startStack({
    r2: true,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/r2",
      R2_FETCH_TIMEOUT_SEC: "3",
      R2_FETCH_FOLDER_TIMEOUT_SEC: "600",
      R2_SERVE_MEDIA: "true",
    },
    r2Vars: { R2_PUBLIC_BASE_URL: "https://media.test", R2_SERVE_MEDIA: "true" },
  });
  ({ receiver: rec, files, worker: w, r2Fetch: r2 } = stack);
});
after(() => stack?.stop());

const received = (id) => rec.requests.filter((r) => r.json?.microsoft_graph_email_id === id);
async function deliver(body) {
  const r = await w.push(email({ subject: `r2 ${crypto.randomUUID()}`, body }));
  assert.equal(r.json.status, "queued", r.text);
  const [req] = await eventually(
    () => (received(r.json.email_id).length ? received(r.json.email_id) : null),
    { what: "webhook", timeoutMs: 120_000 },
  );
  return req.json;
}
async function sha256Of(path) {
  const res = await fetch(w.url + path);
  assert.equal(res.status, 200, `GET ${path}`);
  const h = crypto.createHash("sha256");
  let size = 0;
  for await (const c of res.body) {
    h.update(c);
    size += c.length;
  }
  return { sha: h.digest("hex"), size };
}
const keyOf = (r2Url) => r2Url.replace("https://media.test/", "");
function direct(path, { method = "POST", token = R2_TOKEN, body } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers["X-R2-FETCH-TOKEN"] = token;
  return r2.fetch(`https://r2-fetch.internal${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

test("one link offloaded, one timing out, one refused: the webhook carries r2_url only for the first", async () => {
  files.serve("https://www.dropbox.com/scl/fi/aaa/photo.jpg", {
    size: 3 * MB + 17,
    contentType: "image/jpeg",
    disposition: 'attachment; filename="IMG 0042.jpg"',
  });
  files.serve("https://fromsmash.com/slow-transfer", { size: MB, delayMs: 6_000 });
  files.serve("https://www.dropbox.com/scl/fo/ccc/folder", { size: MB, zip: false });
  const started = Date.now();
  const p = await deliver(`<p>https://www.dropbox.com/scl/fi/aaa/photo.jpg?rlkey=k1&amp;dl=0
    https://fromsmash.com/slow-transfer https://www.dropbox.com/scl/fo/ccc/folder?rlkey=k2&amp;dl=0</p>`);
  assert.ok(Date.now() - started < 30_000, "the slow link did not hold the webhook back");
  const [a, b, c] = p.delivery_links;
  assert.match(a.r2_url, /^https:\/\/media\.test\/dropbox\/[0-9a-f]{8}\/[0-9a-f]{8}\/photo\.jpg$/);
  assert.equal(a.original_filename, "IMG 0042.jpg");
  assert.equal(
    a.raw_url,
    "https://www.dropbox.com/scl/fi/aaa/photo.jpg?rlkey=k1&dl=0",
    "original URLs stay",
  );
  assert.equal(b.r2_url, undefined, "timed out: original URLs only");
  assert.equal(b.raw_url, "https://fromsmash.com/slow-transfer");
  assert.equal(c.r2_url, undefined, "refused (not a ZIP): original URLs only");
  assert.equal(c.direct_url, "https://www.dropbox.com/scl/fo/ccc/folder?rlkey=k2&dl=1");
  const got = await sha256Of(`/media/${keyOf(a.r2_url)}`);
  assert.equal(got.size, 3 * MB + 17);
  assert.equal(got.sha, expectedSha256(3 * MB + 17));
});

test("an e-mail's links are offloaded at most 4 at a time, all of them, in order", async () => {
  const n = 10;
  const urls = Array.from({ length: n }, (_, i) => `https://fromsmash.com/wave-${i}`);
  for (const u of urls) files.serve(u, { size: 10_000, delayMs: 600 });
  const p = await deliver(`<p>${urls.join(" ")}</p>`);
  assert.deepEqual(
    p.delivery_links.map((l) => l.raw_url),
    urls,
  );
  assert.ok(
    p.delivery_links.every((l) => l.r2_url),
    "every link offloaded",
  );
  // Each fetch holds its connection 600 ms: in any 400 ms, no more than 4 of them start.
  const starts = files.hits
    .filter((h) => h.url.startsWith("/wave-"))
    .map((h) => h.at)
    .sort((a, b) => a - b);
  assert.equal(starts.length, n);
  const most = Math.max(...starts.map((t) => starts.filter((u) => u >= t && u < t + 400).length));
  assert.ok(most <= 4, `${most} offloads started within 400 ms`);
  assert.ok(starts.at(-1) - starts[0] >= 2 * 600, "three waves, not one");
});

test("a link already offloaded is not fetched again", async () => {
  files.serve("https://www.dropbox.com/s/reuse/doc.pdf", {
    size: 200_000,
    contentType: "application/pdf",
  });
  const first = await deliver("<p>https://www.dropbox.com/s/reuse/doc.pdf?dl=0</p>");
  const hits = () => files.hits.filter((h) => h.url.startsWith("/s/reuse/doc.pdf")).length;
  assert.equal(hits(), 1);
  const second = await deliver("<p>Again: https://www.dropbox.com/s/reuse/doc.pdf?dl=1</p>");
  assert.equal(
    second.delivery_links[0].r2_url,
    first.delivery_links[0].r2_url,
    "same object for the same normalised source",
  );
  assert.equal(hits(), 1, "not fetched a second time");
});

test("Content-Disposition variants name the file", async () => {
  const cases = [
    [
      "utf8",
      "attachment; filename*=UTF-8''61%20Camille%20%C3%A9t%C3%A9.zip; filename=\"fallback.zip\"",
      "61 Camille été.zip",
    ],
    ["plain", "attachment; filename=report.pdf", "report.pdf"],
    ["quoted", 'inline; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'],
    ["pathy", 'attachment; filename="../../etc/passwd"', "passwd"],
  ];
  for (const [name, disposition, expected] of cases) {
    files.serve(`https://www.dropbox.com/s/cd-${name}/x.bin`, { size: 1000, disposition });
    const res = await direct("/fetch", {
      body: {
        source_url: `https://www.dropbox.com/s/cd-${name}/x.bin?dl=1`,
        key: `test/cd/${name}`,
        provider: "dropbox",
      },
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.original_filename, expected, name);
  }
  files.serve("https://www.dropbox.com/s/cd-none/holiday%20photos.tar.gz", { size: 1000 });
  const none = await (
    await direct("/fetch", {
      body: {
        source_url: "https://www.dropbox.com/s/cd-none/holiday%20photos.tar.gz?dl=1",
        key: "test/cd/none",
        provider: "dropbox",
      },
    })
  ).json();
  assert.equal(none.original_filename, "holiday photos.tar.gz", "from the URL when no header");
});

test("the ZIP check for Dropbox folders, and a web page is never the file", async () => {
  files.serve("https://www.dropbox.com/scl/fo/zip1/f", {
    size: 5 * MB,
    zip: true,
    chunked: true,
    contentType: "application/zip",
  });
  const ok = await direct("/fetch", {
    body: {
      source_url: "https://www.dropbox.com/scl/fo/zip1/f?dl=1",
      key: "test/zip/ok.zip",
      provider: "dropbox",
      require_zip: true,
    },
  });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).size, 5 * MB);
  files.serve("https://www.dropbox.com/scl/fo/zip2/f", { size: MB, zip: false });
  const notZip = await direct("/fetch", {
    body: {
      source_url: "https://www.dropbox.com/scl/fo/zip2/f?dl=1",
      key: "test/zip/no.zip",
      provider: "dropbox",
      require_zip: true,
    },
  });
  assert.equal(notZip.status, 422);
  assert.equal((await notZip.json()).code, "not_zip");
  files.serve("https://fromsmash.com/page", { html: true });
  const page = await direct("/fetch", {
    body: { source_url: "https://fromsmash.com/page", key: "test/page", provider: "fromsmash" },
  });
  assert.equal(page.status, 422);
  assert.equal((await page.json()).code, "not_a_file");
});

test("token, method and host allowlist refusals", async () => {
  const body = {
    source_url: "https://www.dropbox.com/s/x/y.bin?dl=1",
    key: "test/refuse",
    provider: "dropbox",
  };
  const noToken = await direct("/fetch", { token: null, body });
  assert.equal(noToken.status, 401);
  assert.equal((await noToken.json()).code, "unauthorized");
  assert.equal((await direct("/fetch", { token: "wrong", body })).status, 401);
  assert.equal((await direct("/fetch", { method: "GET" })).status, 405);
  for (const url of [
    "https://www.dropbox.com.evil.test/s/x/y.bin",
    "https://evildropbox.com/x",
    "https://example.com/x",
    // A provider the main worker never extracts (SPEC §5) is not fetched either.
    "https://wetransfer.com/downloads/abc/def",
    "https://we.tl.wetransfer.com/t-abc",
  ]) {
    const r = await direct("/fetch", { body: { ...body, source_url: url } });
    assert.equal(r.status, 403, url);
    assert.equal((await r.json()).code, "host_not_allowed");
  }
  const insecure = await direct("/fetch", {
    body: { ...body, source_url: "http://www.dropbox.com/s/x/y.bin" },
  });
  assert.equal(insecure.status, 400);
  const badKey = await direct("/fetch", { body: { ...body, key: "../escape" } });
  assert.equal(badKey.status, 400);
  const notJson = await r2.fetch("https://r2-fetch.internal/fetch", {
    method: "POST",
    headers: { "X-R2-FETCH-TOKEN": R2_TOKEN },
    body: "{",
  });
  assert.equal(notJson.status, 400);
});

function workerdPids() {
  // Miniflare runs workerd as a child of this Node process.
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(fields[1]) === process.pid && stat.includes("(workerd)");
      } catch {
        return false;
      }
    });
}
const rssKb = (pid) =>
  Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

test(
  "a 300 MB file is offloaded with workerd's memory staying flat",
  { timeout: 15 * 60_000 },
  async () => {
    const size = 300 * MB;
    files.serve("https://www.dropbox.com/scl/fi/big/archive.zip", {
      size,
      zip: true,
      contentType: "application/zip",
      disposition: 'attachment; filename="big.zip"',
    });
    const [pid] = workerdPids();
    assert.ok(pid, "workerd process found");
    const baseline = rssKb(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssKb(pid));
    }, 50);
    const started = Date.now();
    const res = await direct("/fetch", {
      body: {
        source_url: "https://www.dropbox.com/scl/fi/big/archive.zip?dl=1",
        key: "test/big/archive.zip",
        provider: "dropbox",
        timeout_ms: 60_000,
      },
    });
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.size, size);
    const growthMb = (peak - baseline) / 1024;
    const heapMb = body.wasm_memory_bytes / MB;
    console.log(
      `figures: 300 MB offload in ${seconds.toFixed(1)} s = ${(300 / seconds).toFixed(1)} MB/s; r2-fetch wasm memory ${heapMb.toFixed(1)} MB; workerd RSS baseline ${(baseline / 1024).toFixed(0)} MB, peak ${(peak / 1024).toFixed(0)} MB (+${growthMb.toFixed(0)} MB, runtime and local R2 simulator included)`,
    );
    // What the worker itself holds: its wasm heap stays small whatever the file size.
    assert.ok(heapMb < 32, `r2-fetch wasm memory reached ${heapMb.toFixed(1)} MB`);
    // The whole process (runtime streams, the local R2 simulator) never approaches the file size.
    assert.ok(growthMb < 250, `workerd grew by ${growthMb.toFixed(0)} MB while copying 300 MB`);
    const got = await sha256Of("/media/test/big/archive.zip");
    assert.equal(got.size, size);
    assert.equal(got.sha, expectedSha256(size, true));
  },
);

test("delete: objects named by key are removed, counted only when they existed; refusals", async () => {
  files.serve("https://www.dropbox.com/s/del/a.bin", { size: 1000 });
  const put = await direct("/fetch", {
    body: {
      source_url: "https://www.dropbox.com/s/del/a.bin?dl=1",
      key: "test/del/a.bin",
      provider: "dropbox",
    },
  });
  assert.equal(put.status, 200);
  assert.equal((await fetch(w.url + "/media/test/del/a.bin")).status, 200);
  const res = await direct("/delete", {
    body: { keys: ["test/del/a.bin", "test/del/absent.bin", "test/del/a.bin"] },
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.deepEqual(body, { success: true, deleted: 1, keys: ["test/del/a.bin"] });
  assert.equal((await fetch(w.url + "/media/test/del/a.bin")).status, 404);
  assert.equal((await direct("/delete", { token: null, body: { keys: ["x"] } })).status, 401);
  assert.equal((await direct("/delete", { token: "wrong", body: { keys: ["x"] } })).status, 401);
  assert.equal((await direct("/delete", { method: "GET" })).status, 405);
  for (const keys of [[], ["../x"], "x", [1], Array(101).fill("k")]) {
    const r = await direct("/delete", { body: { keys } });
    assert.equal(r.status, 400, JSON.stringify(keys));
    assert.equal((await r.json()).code, "invalid_request");
  }
});

test("cleanup: the hourly job keeps fresh objects and reports; older objects are deleted", async () => {
  const main = await w.mf.getWorker();
  await main.scheduled({ cron: CLEANUP_CRON });
  // /health says how it went in one word; the report (object keys included) stays in KV.
  const health = await w.api("/health");
  assert.equal(health.json.r2_offload, "enabled");
  assert.equal(health.json.r2_last_cleanup, "ok");
  assert.ok(!health.text.includes("archive.zip") && !health.text.includes("report"), health.text);
  const kv = await w.mf.getKVNamespace("FACTEUR_KV");
  const saved = JSON.parse(await kv.get("r2:last_cleanup"));
  assert.equal(saved.report.deleted, 0, "nothing is older than 24 h");
  assert.ok(saved.report.scanned > 0);
  // The next hour finds nothing to delete either: the kept report stands (no KV write).
  await main.scheduled({ cron: CLEANUP_CRON });
  assert.equal(JSON.parse(await kv.get("r2:last_cleanup")).at, saved.at, "not rewritten");
  const res = await direct("/cleanup", { body: { older_than_ms: Date.now() + 1000 } });
  const report = await res.json();
  assert.equal(res.status, 200, JSON.stringify(report));
  assert.ok(report.deleted >= 3, JSON.stringify(report));
  assert.ok(report.keys.includes("test/big/archive.zip"));
  assert.equal((await fetch(w.url + "/media/test/big/archive.zip")).status, 404);
});

test("the cleanup runs whatever R2_FETCH_ENABLED says: copies made before it was turned off are not left public", async () => {
  const off = await startWorker({
    network: stack.network,
    withR2Fetch: true,
    vars: {
      WEBHOOK_URL: "https://hooks.receiver.test/r2",
      R2_FETCH_ENABLED: "false",
      R2_FETCH_TOKEN: R2_TOKEN,
    },
    r2Vars: { R2_PUBLIC_BASE_URL: "https://media.test", R2_FETCH_TOKEN: R2_TOKEN },
  });
  try {
    files.serve("https://www.dropbox.com/s/while-on/kept-public.bin", { size: 1_000 });
    const fetcher = await off.mf.getWorker("facteur-r2-fetch");
    const copied = await fetcher.fetch("https://r2-fetch.internal/fetch", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-R2-FETCH-TOKEN": R2_TOKEN },
      body: JSON.stringify({
        source_url: "https://www.dropbox.com/s/while-on/kept-public.bin?dl=1",
        key: "test/while-on/kept-public.bin",
        provider: "dropbox",
      }),
    });
    assert.equal(copied.status, 200, await copied.text());
    assert.equal(
      CLEANUP_CRON,
      "0 * * * *",
      "hourly: a copy outlives its retention by an hour at most",
    );
    await (await off.mf.getWorker()).scheduled({ cron: CLEANUP_CRON });
    const kv = await off.mf.getKVNamespace("FACTEUR_KV");
    const saved = JSON.parse(await kv.get("r2:last_cleanup"));
    assert.equal(saved.ok, true, JSON.stringify(saved));
    assert.ok(saved.report.scanned >= 1, "the bucket was looked at with offload off");
  } finally {
    await off.stop();
  }
});
