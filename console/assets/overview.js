// Overview: alert states, the alert conditions firing now (the cron's, from /api/alerts),
// health, the figures of 24 hours or 7 days, and deliveries per hour.
import { ago, api, card, h, ms, pct, put, s, table, when } from "./dom.js";

const ALERTS = {
  success_rate: ["Success rate", (v) => pct(v)],
  timeout_rate: ["Timeout rate", (v) => pct(v)],
  avg_duration: ["Average duration", (v) => ms(v)],
  redis: ["Redis", (v) => String(v).replace("_", " ")],
};
const STATE_TEXT = { ok: "OK", alert: "Alert", no_data: "No data yet", off: "Not configured" };
const STORE_TEXT = {
  redis: "Redis",
  kv_fallback: "KV fallback in use",
  kv_only: "KV only (Redis not configured)",
};
const SERIES = ["success", "error", "retrying", "held"];
// The cron's alert conditions (docs/flow.md: Alerts), with their thresholds as /api/alerts gives
// them.
const CONDITIONS = {
  success_rate_low: [
    "Success rate low",
    (t) => `below ${t.success_rate_min_percent} % (at least ${t.min_attempts} attempts)`,
  ],
  timeout_rate_high: ["Timeout rate high", (t) => `timeouts above ${t.timeout_rate_max_percent} %`],
  slow_deliveries: ["Slow deliveries", (t) => `average attempt above ${t.avg_duration_max_ms} ms`],
  redis_unavailable: [
    "Redis unavailable",
    (t) => `failing for more than ${t.redis_down_minutes} min`,
  ],
  no_success: ["No success", (t) => `none for ${t.no_success_minutes} min`],
  daily_limit_reached: [
    "Daily limit reached",
    () => "a store refused work for the rest of the day (UTC)",
  ],
};

export async function render(main) {
  const [data, alerts] = await Promise.all([
    api("/api/overview"),
    api("/api/alerts").catch((e) => e),
  ]);
  const o = data.overview;
  let windowKey = "day";
  const body = h("div");
  const toggles = ["day", "week"].map((k) =>
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        "aria-pressed": String(k === windowKey),
        onclick: () => select(k),
      },
      k === "day" ? "24 hours" : "7 days",
    ),
  );
  const select = (k) => {
    windowKey = k;
    toggles.forEach((b, i) => b.setAttribute("aria-pressed", String(["day", "week"][i] === k)));
    put(body, figures(o[k], o[`${k}_hourly`], k));
  };
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Overview"), h("p", {}, `Updated ${when(data.generated_at)}`)),
      h("div", { class: "actions", role: "group", "aria-label": "Period" }, toggles),
    ),
    h("h2", { class: "sr-only" }, "Alerts"),
    h("div", { class: "grid", id: "alerts" }, o.alerts.map(alertTile)),
    firing(alerts),
    limitsReached(data.costs?.limits_reached ?? []),
    health(data.health),
    costs(data.costs?.today),
    body,
  );
  select("day");
}

function alertTile(a) {
  const [label, fmt] = ALERTS[a.name] ?? [a.name, String];
  return h(
    "div",
    { class: `tile state-${a.state}`, "data-alert": a.name },
    h("div", { class: "label" }, label),
    h(
      "div",
      { class: "value" },
      a.state === "no_data" || a.state === "off" ? STATE_TEXT[a.state] : fmt(a.value),
    ),
    h(
      "div",
      { class: "sub" },
      h("span", { class: "sr-only" }, `${STATE_TEXT[a.state]}. `),
      `Alert when ${a.threshold}`,
    ),
  );
}

function firing(a) {
  if (a instanceof Error)
    return card("Alerts firing now", h("p", { class: "muted" }, `Could not be read: ${a.message}`));
  const t = a.thresholds;
  const sink = a.alert_webhook
    ? h("span", { class: "mono" }, a.alert_webhook)
    : "none set (alerts go to the worker's log only)";
  return card(
    "Alerts firing now",
    h(
      "div",
      { id: "alerts-firing" },
      a.firing.length
        ? h(
            "ul",
            { class: "firing" },
            a.firing.map((c) =>
              h(
                "li",
                { "data-condition": c },
                h("span", { class: "badge st-error" }, "firing"),
                " ",
                h("strong", {}, (CONDITIONS[c] ?? [c])[0]),
                CONDITIONS[c] ? `: ${CONDITIONS[c][1](t)}` : "",
              ),
            ),
          )
        : h("p", {}, "None."),
    ),
    h(
      "p",
      { class: "muted" },
      `Checked every 5 minutes over the last ${t.window_minutes} min (the tiles above: 24 hours). Alert webhook: `,
      sink,
      ".",
    ),
  );
}

/** A banner while a daily limit of the plan was reached today: what it stops, until when. */
function limitsReached(limits) {
  if (!limits.length) return null;
  return h(
    "div",
    { class: "banner error", role: "alert", id: "limits-reached" },
    h("strong", {}, "Daily limit reached: "),
    limits.map((l) => `${l.store} at ${when(new Date(l.at_ms).toISOString())}`).join(", "),
    ". What needs it fails until 00:00 UTC (entries that could not be stored are in the worker's log); deliveries go on. See docs/costs.md.",
  );
}

/** What one e-mail spent today, the Free plan's ceiling, and the Paid price. */
function costs(c) {
  if (!c)
    return card("What today cost", h("p", { class: "muted" }, "No e-mail accepted yet today."));
  const ceiling = c.free.emails_per_day
    ? `${c.free.emails_per_day.toLocaleString("en")} e-mails a day (first limit: ${c.free.binds})`
    : "no daily limit binds";
  return card(
    "What today cost",
    h(
      "div",
      { id: "costs" },
      h(
        "p",
        {},
        `${c.emails} e-mail${c.emails > 1 ? "s" : ""} accepted today. Workers Free plan: ${ceiling}. Workers Paid: $${c.paid_per_million.toFixed(2)} per million e-mails past the included usage (prices of ${c.prices_read_on}).`,
      ),
      table(
        [
          { label: "Operation", cell: ([name]) => name },
          { label: "Per e-mail", cell: ([, n]) => String(n) },
        ],
        c.per_email,
        { caption: "Billed operations per e-mail, today" },
      ),
    ),
  );
}

function health(hl) {
  const cleanup = hl.r2_last_cleanup;
  return card(
    "Health",
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Redis"),
      h(
        "dd",
        {},
        hl.redis.replace("_", " "),
        hl.redis_error ? h("span", { class: "muted" }, ` (${hl.redis_error})`) : null,
      ),
      h("dt", {}, "Delivery log"),
      h("dd", {}, STORE_TEXT[hl.log_store] ?? hl.log_store),
      h("dt", {}, "R2 offload"),
      h("dd", {}, hl.r2_offload),
      h("dt", {}, "Last R2 cleanup"),
      h(
        "dd",
        {},
        cleanup ? `${ago(cleanup.at)} (${cleanup.report?.deleted ?? 0} objects deleted)` : "—",
      ),
      h("dt", {}, "Last success"),
      h(
        "dd",
        {},
        hl.last_success_at
          ? `${ago(hl.last_success_at)} (${when(hl.last_success_at)})`
          : "none in 7 days",
      ),
      h("dt", {}, "Version"),
      h("dd", {}, hl.version),
    ),
  );
}

function figures(stats, hourly, k) {
  const f = stats.overall;
  const tile = (label, value, sub) =>
    h(
      "div",
      { class: "tile" },
      h("div", { class: "label" }, label),
      h("div", { class: "value" }, value),
      sub ? h("div", { class: "sub" }, sub) : null,
    );
  const detectors = Object.entries(stats.by_detector).map(([name, d]) => ({ name, ...d }));
  return h(
    "div",
    {},
    h(
      "div",
      { class: "grid", id: "figures" },
      tile("Deliveries", String(f.deliveries), `${f.attempts} attempts`),
      tile("Success rate", pct(f.success_rate), `${f.delivered} delivered, ${f.failed} failed`),
      tile("Error rate", pct(f.error_rate)),
      tile("Timeout rate", pct(f.timeout_rate)),
      tile("Average duration", ms(f.avg_duration_ms)),
      tile("p95 duration", ms(f.p95_duration_ms)),
      tile("Skipped · held · blocked", `${f.skipped} · ${f.held} · ${f.blocked}`),
    ),
    card(
      k === "day" ? "Deliveries per hour, last 24 hours" : "Deliveries per hour, last 7 days",
      chart(hourly, k),
    ),
    card(
      "By detector",
      table(
        [
          { label: "Detector", cell: (d) => d.name },
          { label: "Deliveries", cell: (d) => String(d.deliveries) },
          { label: "Success rate", cell: (d) => pct(d.success_rate) },
          { label: "Timeouts", cell: (d) => pct(d.timeout_rate) },
          { label: "Average", cell: (d) => ms(d.avg_duration_ms) },
          { label: "p95", cell: (d) => ms(d.p95_duration_ms) },
          { label: "Skipped", cell: (d) => String(d.skipped) },
        ],
        detectors,
        { empty: "No e-mail in this period." },
      ),
    ),
  );
}

function chart(buckets, k) {
  const W = 720,
    H = 180,
    top = 10,
    bottom = 22,
    left = 30;
  const max = Math.max(1, ...buckets.map((b) => SERIES.reduce((n, key) => n + b[key], 0)));
  const step = (W - left) / buckets.length;
  const bar = Math.max(1, step * 0.72);
  const y = (v) => ((H - top - bottom) * v) / max;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary(buckets) });
  for (const t of [0, 0.5, 1]) {
    const v = Math.round(max * t);
    const yy = H - bottom - y(v);
    svg.append(
      s("line", { x1: left, x2: W, y1: yy, y2: yy, class: "gridline" }),
      s("text", { x: left - 6, y: yy + 3, "text-anchor": "end", class: "axis" }, String(v)),
    );
  }
  buckets.forEach((b, i) => {
    let base = H - bottom;
    const x = left + i * step + (step - bar) / 2;
    for (const key of SERIES) {
      if (!b[key]) continue;
      const hgt = y(b[key]);
      base -= hgt;
      svg.append(
        s(
          "rect",
          { x, y: base, width: bar, height: hgt, class: `bar-${key}` },
          s("title", {}, `${when(b.start)}: ${b[key]} ${key}`),
        ),
      );
    }
    const d = new Date(b.start);
    const label =
      k === "day"
        ? d.getHours() % 6 === 0
          ? `${String(d.getHours()).padStart(2, "0")}h`
          : null
        : d.getHours() === 0
          ? `${d.getDate()}/${d.getMonth() + 1}`
          : null;
    if (label)
      svg.append(
        s("text", { x: x + bar / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, label),
      );
  });
  return h(
    "div",
    { class: "chart" },
    svg,
    h(
      "div",
      { class: "legend" },
      SERIES.map((key) => h("span", { class: `l-${key}` }, key)),
    ),
  );
}

function summary(buckets) {
  const t = Object.fromEntries(SERIES.map((key) => [key, buckets.reduce((n, b) => n + b[key], 0)]));
  return `Deliveries per hour: ${t.success} success, ${t.error} error, ${t.retrying} retrying, ${t.held} held`;
}
