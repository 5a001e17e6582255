// The Gmail side (apps-script/Code.gs), run in a Node VM with fakes of the Apps Script services:
// which answers keep a thread labelled (pushed again next run), which move it to the rejected
// label, and that no answer makes a thread be pushed forever for a reason that cannot change.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { ROOT } from "../harness/worker.mjs";

const CODE = fs.readFileSync(path.join(ROOT, "apps-script/Code.gs"), "utf8");

/** A Gmail with threads (each a list of message subjects) under the to-push label. */
function gmail(threads, answer, props = {}) {
  const labels = new Map();
  const label = (name) => {
    if (!labels.has(name)) labels.set(name, { name, threads: new Set() });
    return labels.get(name);
  };
  const calls = [];
  const made = threads.map((subjects, i) => {
    const thread = {
      id: i,
      labels: new Set(["facteur/to-push"]),
      getMessages: () =>
        subjects.map((subject) => ({
          getSubject: () => subject,
          getFrom: () => "Jane <jane@example.com>",
          getBody: () => "<p>hello</p>",
          getPlainBody: () => "hello",
          getDate: () => new Date("2026-01-01T00:00:00Z"),
        })),
      getFirstMessageSubject: () => subjects[0],
      addLabel: (l) => thread.labels.add(l.name),
      removeLabel: (l) => thread.labels.delete(l.name),
    };
    return thread;
  });
  label("facteur/to-push");
  const logs = [];
  const context = {
    console: { warn: (m) => logs.push(m), error: (m) => logs.push(m), log: () => {} },
    PropertiesService: {
      getScriptProperties: () => ({
        getProperty: (k) =>
          ({
            FACTEUR_URL: "https://facteur.example/api/ingress/gmail",
            FACTEUR_TOKEN: "t",
            ...props,
          })[k] ?? null,
      }),
    },
    LockService: { getScriptLock: () => ({ tryLock: () => true, releaseLock: () => {} }) },
    ScriptApp: {
      getProjectTriggers: () => [],
      newTrigger: () => ({ timeBased: () => ({ everyMinutes: () => ({ create: () => {} }) }) }),
    },
    UrlFetchApp: {
      fetch: (url, options) => {
        const subject = JSON.parse(options.payload).subject;
        calls.push(subject);
        const code = answer(subject);
        if (code === "network") throw new Error("DNS error");
        assert.equal(options.followRedirects, false);
        return {
          getResponseCode: () => code,
          getContentText: () => `{"success":false,"code":"x","message":"answer ${code}"}`,
        };
      },
    },
    GmailApp: {
      getUserLabelByName: (name) => (labels.has(name) ? label(name) : null),
      createLabel: (name) => label(name),
    },
  };
  label("facteur/to-push").getThreads = () => made.filter((t) => t.labels.has("facteur/to-push"));
  vm.createContext(context);
  vm.runInContext(CODE, context);
  return {
    run: () => vm.runInContext("pushLabelled()", context),
    threads: made,
    calls,
    logs,
    install: () => vm.runInContext("install()", context),
    labels,
  };
}

test("accepted threads leave the label; refused ones move to facteur/rejected with the reason", () => {
  const codes = { ok: 200, dup: 200, bad: 400, big: 413, odd: 422 };
  const g = gmail([["ok"], ["ok", "dup"], ["ok", "bad"], ["big"], ["odd"]], (s) => codes[s]);
  g.run();
  const labelsOf = (i) => [...g.threads[i].labels].sort();
  assert.deepEqual(labelsOf(0), []);
  assert.deepEqual(labelsOf(1), []);
  assert.deepEqual(labelsOf(2), ["facteur/rejected"]);
  assert.deepEqual(labelsOf(3), ["facteur/rejected"]);
  assert.deepEqual(labelsOf(4), ["facteur/rejected"]);
  assert.ok(
    g.logs.some((l) => /facteur\/rejected.*413/.test(l)),
    "the reason is logged",
  );
  // Nothing is left to push: the next runs call nothing.
  const before = g.calls.length;
  g.run();
  g.run();
  assert.equal(g.calls.length, before);
});

test("401, 409, 5xx, throttling, wrong URL and network errors keep the thread for the next run", () => {
  const retried = [401, 403, 404, 405, 408, 409, 429, 500, 502, 503, 301, "network"];
  for (const code of retried) {
    const g = gmail([["first", "second"]], (s) => (s === "first" ? code : 200));
    g.run();
    assert.deepEqual([...g.threads[0].labels], ["facteur/to-push"], `answer ${code}`);
    assert.deepEqual(g.calls, ["first"], `answer ${code}: the rest of the thread waits too`);
    g.run();
    assert.equal(g.calls.length, 2, `answer ${code}: pushed again at the next run`);
  }
});

test("install creates both labels", () => {
  const g = gmail([], () => 200);
  g.install();
  assert.ok(g.labels.has("facteur/rejected") && g.labels.has("facteur/to-push"));
});

test("an http:// FACTEUR_URL is refused before anything is pushed: the token would travel in clear", () => {
  for (const url of [
    "http://facteur.example/api/ingress/gmail",
    " HTTP://facteur.example/api/ingress/gmail",
    "facteur.example/api/ingress/gmail",
  ]) {
    const g = gmail([["first"]], () => 200, { FACTEUR_URL: url });
    assert.throws(() => g.run(), /FACTEUR_URL must start with https:\/\//, url);
    assert.throws(() => g.install(), /FACTEUR_URL must start with https:\/\//, url);
    assert.deepEqual(g.calls, [], `nothing sent to ${url}`);
    assert.deepEqual([...g.threads[0].labels], ["facteur/to-push"], "the thread waits");
  }
  const ok = gmail([["first"]], () => 200, {
    FACTEUR_URL: "HTTPS://facteur.example/api/ingress/gmail",
  });
  ok.run();
  assert.deepEqual(ok.calls, ["first"]);
});
