// wrangler.toml, the Rust constants and .dev.vars.example must name the same bindings and
// variables: a renamed binding would otherwise fail only in production.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, wranglerConfig } from "../harness/worker.mjs";

/** The Rust files under a folder, recursively. */
function rustFiles(dir) {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".rs"))
    .map((e) => path.relative(ROOT, path.join(e.parentPath ?? e.path, e.name)));
}

/** `pub const NAME: &str = "value";` inside `pub mod <module> { … }` of a Rust file, or of the
 * one file under a folder that defines that module. */
function rustConsts(fileOrDir, module) {
  const files = fileOrDir.endsWith(".rs") ? [fileOrDir] : rustFiles(fileOrDir);
  const file = files.find((f) =>
    fs.readFileSync(path.join(ROOT, f), "utf8").includes(`pub mod ${module} {`),
  );
  assert.ok(file, `pub mod ${module} in ${fileOrDir}`);
  const src = fs.readFileSync(path.join(ROOT, file), "utf8");
  const start = src.indexOf(`pub mod ${module} {`);
  const body = src.slice(start, src.indexOf("\n}", start));
  return Object.fromEntries(
    [...body.matchAll(/pub const (\w+): &str = "([^"]+)";/g)].map((m) => [m[1], m[2]]),
  );
}

const envKeys = (file) =>
  fs
    .readFileSync(path.join(ROOT, file), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split("=")[0]);

test("main worker: bindings and queue names agree with the core's config (core/src)", () => {
  const b = rustConsts("core/src", "bindings");
  const cfg = wranglerConfig(".");
  assert.deepEqual(
    cfg.kv_namespaces.map((k) => k.binding),
    [b.KV],
  );
  const producers = Object.fromEntries(cfg.queues.producers.map((p) => [p.binding, p.queue]));
  assert.deepEqual(producers, {
    [b.PROCESS_QUEUE]: b.PROCESS_QUEUE_NAME,
    [b.DELIVERY_QUEUE]: b.DELIVERY_QUEUE_NAME,
    [b.DEAD_LETTER_QUEUE]: b.DEAD_LETTER_QUEUE_NAME,
  });
  assert.deepEqual(
    cfg.queues.consumers.map((c) => c.queue).sort(),
    [b.PROCESS_QUEUE_NAME, b.DELIVERY_QUEUE_NAME, b.DEAD_LETTER_QUEUE_NAME].sort(),
  );
  for (const c of cfg.queues.consumers.filter((c) => c.queue !== b.DEAD_LETTER_QUEUE_NAME)) {
    assert.equal(
      c.dead_letter_queue,
      b.DEAD_LETTER_QUEUE_NAME,
      `${c.queue} has the dead-letter queue`,
    );
  }
  assert.deepEqual(
    cfg.durable_objects.bindings.map((d) => d.name),
    [b.DEDUP, b.TARGETS, b.CONSOLE_GUARD, b.JOURNAL, b.GMAIL_MAILBOX],
  );
  const migrated = cfg.migrations.flatMap((m) => m.new_sqlite_classes);
  for (const d of cfg.durable_objects.bindings)
    assert.ok(migrated.includes(d.class_name), `${d.class_name} has a migration`);
  assert.equal(cfg.services[0].binding, b.R2_FETCH);
  assert.equal(
    cfg.services[0].service,
    wranglerConfig("r2-fetch").name,
    "the service binding names the r2-fetch worker",
  );
  const src = fs.readFileSync(path.join(ROOT, "src/handlers/scheduled.rs"), "utf8");
  const cleanup = /CLEANUP_CRON: &str = "([^"]+)"/.exec(src)[1];
  assert.ok(cfg.triggers.crons.includes(cleanup), "the cleanup cron is a trigger");
});

test("main worker: the console's guard and files are bound as the core names them", () => {
  const b = rustConsts("core/src", "bindings");
  const cfg = wranglerConfig(".");
  const guard = cfg.durable_objects.bindings.find((d) => d.name === b.CONSOLE_GUARD);
  assert.ok(guard, "the CONSOLE_GUARD Durable Object binding");
  assert.ok(
    cfg.migrations.some((m) => m.new_sqlite_classes?.includes(guard.class_name)),
    "a migration creates its class",
  );
  const tags = cfg.migrations.map((m) => m.tag);
  assert.equal(new Set(tags).size, tags.length, "migration tags are unique");
  const src = fs.readFileSync(path.join(ROOT, "src/objects/guard.rs"), "utf8");
  assert.match(src, new RegExp(`pub struct ${guard.class_name}\\b`), "the class is the worker's");
  assert.equal(cfg.assets.binding, b.ASSETS);
  assert.equal(cfg.assets.run_worker_first, true, "the worker decides access and adds the headers");
  for (const f of ["index.html", "login.html", "assets/app.js", "assets/app.css"]) {
    assert.ok(
      fs.existsSync(path.join(ROOT, cfg.assets.directory, f)),
      `${cfg.assets.directory}/${f}`,
    );
  }
});

test("main worker: the platform's rate limiters are bound as the core names them, above the guard's own limits", () => {
  const b = rustConsts("core/src", "bindings");
  const cfg = wranglerConfig(".");
  const limiters = Object.fromEntries(cfg.ratelimits.map((r) => [r.name, r]));
  assert.deepEqual(
    Object.keys(limiters).sort(),
    [b.AUTH_CLIENT_LIMITER, b.AUTH_GLOBAL_LIMITER].sort(),
  );
  const ids = cfg.ratelimits.map((r) => String(r.namespace_id));
  assert.equal(new Set(ids).size, ids.length, "namespace ids are unique");
  for (const r of cfg.ratelimits) assert.ok([10, 60].includes(r.simple.period), r.name);
  // The limiters only shed floods: a client within the guard's limit is never refused by them.
  assert.ok(
    limiters[b.AUTH_CLIENT_LIMITER].simple.limit >= Number(cfg.vars.AUTH_CLIENT_FAILURE_LIMIT),
  );
  assert.ok(
    limiters[b.AUTH_GLOBAL_LIMITER].simple.limit >= Number(cfg.vars.AUTH_GLOBAL_FAILURE_LIMIT),
  );
});

test("r2-fetch has no public URL: only the main worker's service binding reaches it", () => {
  assert.equal(wranglerConfig("r2-fetch").workers_dev, false);
  const policy = fs.readFileSync(path.join(ROOT, "r2-fetch/src/policy.rs"), "utf8");
  const domains = /SOURCE_DOMAINS: &\[&str\] = &\[([^\]]*)\]/.exec(policy)[1];
  assert.deepEqual(
    [...domains.matchAll(/"([^"]+)"/g)].map((m) => m[1]),
    ["dropbox.com", "fromsmash.com", "swisstransfer.com"],
    "the providers the main worker extracts (SPEC §5), no other",
  );
});

test("main worker: every variable and secret is one the code reads", () => {
  const known = new Set(Object.values(rustConsts("core/src", "vars")));
  for (const name of Object.keys(wranglerConfig(".").vars))
    assert.ok(known.has(name), `[vars] ${name} is read by the worker`);
  for (const name of envKeys(".dev.vars.example"))
    assert.ok(known.has(name), `.dev.vars.example ${name} is read by the worker`);
});

test("r2-fetch: binding and variables agree with r2-fetch/src/consts.rs", () => {
  const cfg = wranglerConfig("r2-fetch");
  assert.equal(
    cfg.r2_buckets[0].binding,
    rustConsts("r2-fetch/src/consts.rs", "bindings").MEDIA_BUCKET,
  );
  const known = new Set(Object.values(rustConsts("r2-fetch/src/consts.rs", "vars")));
  for (const name of Object.keys(cfg.vars)) assert.ok(known.has(name), `[vars] ${name}`);
  for (const name of envKeys("r2-fetch/.dev.vars.example"))
    assert.ok(known.has(name), `.dev.vars.example ${name}`);
  // The main worker counts a cleanup's R2 lists by r2-fetch's page size.
  const num = (file, name) =>
    Number(
      new RegExp(`const ${name}: u64 = ([0-9_]+);|const ${name}: usize = ([0-9_]+);`)
        .exec(fs.readFileSync(path.join(ROOT, file), "utf8"))
        .slice(1)
        .find(Boolean)
        .replaceAll("_", ""),
    );
  assert.equal(
    num("core/src/analysis/offload.rs", "CLEANUP_PAGE"),
    num("r2-fetch/src/consts.rs", "DELETE_BATCH"),
  );
});
