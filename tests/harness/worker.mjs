// Runs the built workers in workerd through the Miniflare API, with the bindings of
// wrangler.toml, every outbound request going to the test network (network.mjs).
import path from "node:path";
import fs from "node:fs";
import http from "node:http";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Strong enough for the worker's rules (docs/security.md): at least 24 characters, not a
// pattern; a weak token makes the worker answer every request `misconfigured`.
export const PROCESS_TOKEN = "test-process-Q7b2Xk9mPz4vLc8R";
export const ADMIN_TOKEN = "test-admin-Wd5nG8hJt2Ks6Yp3";

/** wrangler.toml of a worker, parsed. */
export function wranglerConfig(dir = ".") {
  return parseToml(fs.readFileSync(path.join(ROOT, dir, "wrangler.toml"), "utf8"));
}

/** Miniflare options for a worker directory, derived from its wrangler.toml. */
export function workerOptions(dir, { vars = {}, name } = {}) {
  const cfg = wranglerConfig(dir);
  const build = path.join(ROOT, dir, "build");
  if (!fs.existsSync(path.join(build, "index.js"))) {
    throw new Error(`${dir}/build/index.js is missing: run scripts/build.sh ${dir} first`);
  }
  const opts = {
    name: name ?? cfg.name,
    modules: true,
    scriptPath: path.join(build, "index.js"),
    modulesRoot: build,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: cfg.compatibility_date,
    bindings: { ...(cfg.vars ?? {}), ...vars },
  };
  if (cfg.kv_namespaces)
    opts.kvNamespaces = Object.fromEntries(cfg.kv_namespaces.map((k) => [k.binding, k.id]));
  if (cfg.r2_buckets)
    opts.r2Buckets = Object.fromEntries(cfg.r2_buckets.map((b) => [b.binding, b.bucket_name]));
  if (cfg.queues?.producers)
    opts.queueProducers = Object.fromEntries(
      cfg.queues.producers.map((p) => [p.binding, { queueName: p.queue }]),
    );
  if (cfg.queues?.consumers) {
    opts.queueConsumers = Object.fromEntries(
      cfg.queues.consumers.map((c) => [
        c.queue,
        {
          maxBatchSize: c.max_batch_size,
          maxBatchTimeout: c.max_batch_timeout,
          maxRetries: c.max_retries,
          deadLetterQueue: c.dead_letter_queue,
        },
      ]),
    );
  }
  if (cfg.durable_objects?.bindings) {
    opts.durableObjects = Object.fromEntries(
      cfg.durable_objects.bindings.map((b) => [
        b.name,
        { className: b.class_name, useSQLite: true },
      ]),
    );
  }
  if (cfg.assets) {
    // Workers Static Assets as wrangler maps [assets]: the files, the binding, and the worker
    // run first (run_worker_first) or only for what no file serves.
    opts.assets = {
      directory: path.join(ROOT, dir, cfg.assets.directory),
      binding: cfg.assets.binding,
      routerConfig: {
        has_user_worker: true,
        invoke_user_worker_ahead_of_assets: cfg.assets.run_worker_first === true,
      },
      assetConfig: {
        html_handling: cfg.assets.html_handling,
        not_found_handling: cfg.assets.not_found_handling,
      },
    };
  }
  if (cfg.ratelimits)
    opts.ratelimits = Object.fromEntries(
      cfg.ratelimits.map((r) => [
        r.name,
        { namespace_id: String(r.namespace_id), simple: r.simple },
      ]),
    );
  if (cfg.services)
    opts.serviceBindings = Object.fromEntries(cfg.services.map((s) => [s.binding, s.service]));
  return opts;
}

/**
 * One HTTP request on a connection of its own (no keep-alive, redirects not followed): workerd
 * closes a connection whose request body it did not read (an early 400 or 401), and a client
 * reusing it at that moment fails without an answer. Answers `{status, headers, text, json}`
 * (`json` null when the body is not JSON).
 */
export function request(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        const answerHeaders = new Headers(
          Object.entries(res.headers).flatMap(([k, v]) =>
            Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]],
          ),
        );
        resolve({ status: res.statusCode, headers: answerHeaders, text, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Starts the main worker (and the r2-fetch worker when `withR2Fetch`) with every outbound
 * request sent to the test `network`. `vars` override wrangler.toml vars and add secrets.
 */
export async function startWorker({
  network,
  vars = {},
  withR2Fetch = false,
  r2Vars = {},
  shared = {},
} = {}) {
  const main = workerOptions(".", {
    vars: { PROCESS_API_TOKEN: PROCESS_TOKEN, ADMIN_TOKEN, ...vars },
  });
  main.outboundService = network.outbound();
  const workers = [main];
  if (withR2Fetch) {
    const r2 = workerOptions("r2-fetch", { vars: r2Vars });
    r2.outboundService = network.outbound();
    workers.push(r2);
  } else {
    delete main.serviceBindings;
  }
  // The worker logs one `{"facteur_ops": …}` line per invocation (docs/costs.md): kept here for
  // the tests that read them, and left out of the test output (FACTEUR_SHOW_OPS=1 shows them).
  const ops = [];
  const handleRuntimeStdio = (stdout, stderr) => {
    for (const [stream, sink] of [
      [stdout, process.stdout],
      [stderr, process.stderr],
    ]) {
      readline.createInterface({ input: stream }).on("line", (line) => {
        const at = line.indexOf('{"facteur_ops"');
        if (at >= 0) {
          try {
            ops.push(JSON.parse(line.slice(at)));
          } catch {
            /* not one of ours after all */
          }
          if (!process.env.FACTEUR_SHOW_OPS) return;
        }
        sink.write(`${line}\n`);
      });
    }
  };
  const mf = new Miniflare({
    workers,
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio,
    ...shared,
  });
  let url;
  try {
    url = await mf.ready;
  } catch (e) {
    // workerd may be running already: stop it before giving up.
    await mf.dispose().catch(() => {});
    throw e;
  }
  const base = url.toString().replace(/\/$/, "");
  return {
    mf,
    url: base,
    /** The `{"facteur_ops": …}` lines the worker logged so far, oldest first. */
    ops,
    /**
     * One request to the worker, with the admin token unless `auth` is given. Each request has
     * its own connection: workerd closes a connection whose request body it did not read (an
     * early 400 or 401), and a client reusing it at that moment fails without an answer.
     */
    api(pathname, { method = "GET", body, auth = `Bearer ${ADMIN_TOKEN}`, headers = {} } = {}) {
      const h = { ...headers };
      if (auth) h.Authorization = auth;
      if (body !== undefined && typeof body !== "string") {
        h["Content-Type"] = "application/json";
        body = JSON.stringify(body);
      }
      if (body !== undefined) h["Content-Length"] = String(Buffer.byteLength(body));
      return request(base + pathname, { method, headers: h, body });
    },
    /** Pushes an e-mail to the ingest (`headers`: CF-Connecting-IP, to send as another client). */
    push(email, { auth = `Bearer ${PROCESS_TOKEN}`, headers = {} } = {}) {
      return this.api("/api/ingress/gmail", { method: "POST", body: email, auth, headers });
    },
    /** All log entries matching a query string. */
    async logs(query = "") {
      const r = await this.api(`/api/webhook_logs?limit=10000${query ? "&" + query : ""}`);
      if (r.status !== 200) throw new Error(`logs API answered ${r.status}: ${r.text}`);
      return r.json.logs;
    },
    async stop() {
      await mf.dispose();
    },
  };
}

let counter = 0;
let guesser = 0;
/**
 * Headers sending a request from a client address of its own (CF-Connecting-IP, in 198.18.0.0/15,
 * the benchmarking range): tests that present wrong credentials on purpose use one each, so the
 * failed-attempt limit (5 per client) never refuses the suite's own right credentials.
 */
export function asGuesser() {
  guesser += 1;
  return { "CF-Connecting-IP": `198.18.${(guesser >> 8) & 255}.${guesser & 255}` };
}

/** A unique e-mail for tests. */
export function email(overrides = {}) {
  counter += 1;
  return {
    subject: `Test e-mail ${counter} ${process.hrtime.bigint()}`,
    sender: "Expéditeur <Sender@Example.com>",
    body: "<p>Bonjour</p>",
    date: new Date().toISOString(),
    ...overrides,
  };
}
