// CPU of the per-e-mail work in workerd, the figure that matters: the pure core compiled to wasm
// (bench/core-worker, built like the main worker), run on bodies generated inside the isolate.
// Prints, for 25 MB bodies: the routing rules' evaluation with the worst documents the validator
// accepts (and the budget units they were charged), detection, link extraction, and the whole
// consumer step (analyse, gate, route, payload serialised).
//
// Time is taken outside (inside workerd the clock only moves on I/O): the time of a request
// minus the time of a request that does nothing with the same body. Each figure is the median
// of the runs, with the slowest. Usage: node bench/core.mjs [runs per figure, default 3] [typical]
// (`typical`: only the typical e-mail's figures)
import { Miniflare } from "miniflare";
import { workerOptions } from "../tests/harness/worker.mjs";

const RUNS = Number(process.argv[2] ?? 3);
const ONLY_TYPICAL = process.argv[3] === "typical";
const MB25 = 25_000_000;

const mf = new Miniflare({ ...workerOptions("bench/core-worker"), host: "127.0.0.1", port: 0 });
const url = (await mf.ready).toString();

async function call(input) {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(input) });
  const answer = await res.json();
  if (!answer.ok) throw new Error(`${JSON.stringify(input).slice(0, 200)}: ${answer.error}`);
  return answer.result;
}

async function elapsed(input) {
  const t = performance.now();
  const result = await call(input);
  return { ms: performance.now() - t, result };
}

/** Median and slowest time of a pass, less the time of a request doing nothing with the same inputs. */
async function time(input) {
  await call({ ...input, pass: "noop" }); // generates and keeps the body
  await call(input); // warms the pass (regexes compiled, code paths hot)
  const base = [];
  for (let i = 0; i < 3; i++) base.push((await elapsed({ ...input, pass: "noop" })).ms);
  const runs = [];
  let result;
  for (let i = 0; i < RUNS; i++) {
    const r = await elapsed(input);
    runs.push(r.ms);
    result = r.result;
  }
  const floor = Math.min(...base);
  runs.sort((a, b) => a - b);
  return {
    median: runs[Math.floor(runs.length / 2)] - floor,
    max: runs[runs.length - 1] - floor,
    result,
  };
}

const pad = (s, n) => String(s).padEnd(n);
const ms = (x) => `${x.toFixed(0).padStart(6)} ms`;
function row(label, t, extra = "") {
  console.log(`${pad(label, 58)} ${ms(t.median)}  (max ${ms(t.max).trim()})  ${extra}`);
}

try {
  if (!ONLY_TYPICAL) await worst();
  await typical();
} finally {
  await mf.dispose();
}

async function worst() {
  const { k } = await call({ pass: "heaviest", body: { kind: "text", bytes: 16 } });
  console.log(`workerd, ${RUNS} runs per figure (median, slowest); bodies of 25,000,000 bytes`);
  console.log(
    `\n== routing rules, worst documents the validator accepts (heaviest regex: [a-z]{${k}}[0-9])`,
  );
  const scenarios = [
    ["regex", "letters", "100 literal-free regexes, body of letters"],
    ["regex", "words", "100 literal-free regexes, 1,000-letter words"],
    ["contains", "text", "2,000 body contains, needles at the end"],
    ["fold", "hangul", "2,000 contains without ASCII (full fold), Hangul"],
    ["mixed", "letters", "50 regexes + 1,000 contains, body of letters"],
    ["mixed", "html", "50 regexes + 1,000 contains, HTML e-mail"],
  ];
  let worst = 0;
  for (const [rules, kind, label] of scenarios) {
    const t = await time({ pass: "route", rules, body: { kind, bytes: MB25 } });
    worst = Math.max(worst, t.max);
    const r = t.result;
    row(
      label,
      t,
      `${(r.units / 1e6).toFixed(0)}M units${r.exhausted ? ", budget exhausted" : ""}, matched ${r.matched ?? "none"}`,
    );
  }
  console.log(`slowest rule evaluation: ${worst.toFixed(0)} ms (goal: under 1,000 ms)`);

  console.log("\n== detection and link extraction (run on every e-mail)");
  for (const kind of ["html", "text", "letters", "hangul", "links"]) {
    const d = await time({ pass: "detect", body: { kind, bytes: MB25 } });
    row(`detect, ${kind}`, d, `detector ${d.result.detector ?? "none"}`);
  }
  for (const kind of ["html", "links"]) {
    const l = await time({ pass: "links", body: { kind, bytes: MB25 } });
    row(`extract links, ${kind}`, l, `kept ${l.result.kept}, dropped ${l.result.dropped}`);
  }

  console.log(
    "\n== the processing consumer's CPU for one e-mail (analyse, gate, route, payload JSON)",
  );
  const prefs = { exclude_keywords: Array.from({ length: 20 }, (_, i) => `unsubscribe-${i}`) };
  for (const [kind, rules] of [
    ["html", "mixed"],
    ["hangul", "fold"],
    ["links", "regex"],
  ]) {
    const p = await time({ pass: "plan", rules, prefs, body: { kind, bytes: MB25 } });
    row(
      `${kind} body, ${rules} rules, 20 exclude keywords`,
      p,
      `${p.result.decision}` +
        (p.result.payload_bytes
          ? `, payload ${(p.result.payload_bytes / 1e6).toFixed(1)} MB`
          : ", no payload"),
    );
  }
}

async function typical() {
  console.log(
    "\n== a typical e-mail: the consumer's CPU (Workers Free allows 10 ms of CPU an invocation)",
  );
  for (const bytes of [50_000, 200_000]) {
    const p = await time({ pass: "plan", rules: null, body: { kind: "html", bytes } });
    row(
      `HTML e-mail of ${bytes / 1000} KB, ${p.result.links ?? 0} links, no rule`,
      p,
      `${p.result.decision}`,
    );
  }
}
