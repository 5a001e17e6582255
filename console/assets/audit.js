// Audit: every change made to Facteur (settings, rules, replays, targets, test e-mails,
// erasures, sign-ins) and every burst of failed credentials, newest first, with who, from
// where and when. The filters are a plain GET form, so a filtered view is a URL.
import {
  api,
  card,
  field,
  filterForm,
  filterSelect,
  filterText,
  h,
  params,
  put,
  table,
  when,
} from "./dom.js";

const LABELS = {
  config_changed: "Settings changed",
  rules_changed: "Rules changed",
  deliveries_replayed: "Deliveries replayed",
  delivery_replayed: "Delivery replayed",
  dead_letters_replayed: "Dead letters replayed",
  dead_letter_replayed: "Dead letter replayed",
  target_paused: "Target paused",
  target_resumed: "Target resumed",
  test_email_sent: "Test e-mail",
  erasure: "Erasure",
  signed_in: "Signed in",
  signed_out: "Signed out",
  failed_attempts: "Failed attempts",
  gmail_changed: "Gmail",
};

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One line saying what an entry did (its details in full are one click away). */
function summary(e) {
  const d = e.details ?? {};
  const list = (xs) => (xs?.length ? xs.join(", ") : "");
  const counts = () =>
    [
      `${d.sent ?? 0} of ${plural(d.selected ?? 0, "selected")} sent`,
      d.refused ? `${d.refused} refused by the replay budget` : "",
      d.failed ? `${d.failed} failed` : "",
    ]
      .filter(Boolean)
      .join(", ");
  const filter = () => {
    const parts = Object.entries(d.filter ?? {}).map(
      ([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`,
    );
    return parts.length ? `; filter ${parts.join(" ")}` : "; every one";
  };
  switch (e.action) {
    case "config_changed":
      return d.fields?.length
        ? `${d.document}: ${d.fields.map((f) => f.field).join(", ")}`
        : `${d.document}: saved, nothing changed`;
    case "rules_changed":
      return [
        `${d.rules_before} → ${plural(d.rules_after, "rule")}`,
        d.added?.length ? `added ${list(d.added)}` : "",
        d.removed?.length ? `removed ${list(d.removed)}` : "",
        d.changed?.length ? `changed ${list(d.changed)}` : "",
        d.reordered ? "reordered" : "",
      ]
        .filter(Boolean)
        .join("; ");
    case "deliveries_replayed":
      return `${counts()}${d.reroute ? " (re-routed)" : ""}${filter()}`;
    case "dead_letters_replayed":
      return `${counts()}${filter()}`;
    case "delivery_replayed":
      return d.delivery_id;
    case "dead_letter_replayed":
      return d.id;
    case "target_paused":
    case "target_resumed":
      return `${d.target} (${d.target_id})`;
    case "test_email_sent":
      return `${d.status}${d.email_id ? ` · ${d.email_id}` : ""}`;
    case "erasure": {
      const removed = Object.values(d.removed ?? {}).reduce((a, b) => a + b, 0);
      return `${d.kind} ${d.subject_hash}: ${plural(d.emails ?? 0, "e-mail")}, ${removed} records removed${d.complete === false ? " (incomplete: run it again)" : ""}`;
    }
    case "signed_in":
    case "signed_out":
      return d.session;
    case "failed_attempts": {
      const top = (d.top ?? []).map((c) => `${c.client} ×${c.attempts}`).join(", ");
      const paths = d.by_path ?? {};
      return [
        `${plural(d.failures ?? 0, "wrong credential")} from ${plural(d.clients ?? 0, "client")}`,
        d.refused ? `${d.refused} refused (429)` : "",
        `admin token ${paths.admin_bearer ?? 0}, ingest ${paths.ingest_bearer ?? 0}, sign-in ${paths.sign_in ?? 0}`,
        top ? `most: ${top}` : "",
        `${when(d.from)} – ${when(d.to)}`,
        d.flood ? "flood: the global budget was spent" : "",
      ]
        .filter(Boolean)
        .join("; ");
    }
    case "gmail_changed":
      return `${d.change} ${d.account ?? ""}`;
    default:
      return JSON.stringify(d);
  }
}

export async function render(main) {
  const q = params();
  const apiQ = new URLSearchParams({ limit: "200" });
  for (const k of ["action", "who", "from", "days"]) if (q.get(k)) apiQ.set(k, q.get(k));
  const data = await api(`/api/audit?${apiQ}`);
  const form = filterForm(
    "/audit",
    "Filter the audit trail",
    field(
      "f-action",
      "Action",
      filterSelect(
        "action",
        [["", "any"], ...(data.actions ?? Object.keys(LABELS)).map((a) => [a, LABELS[a] ?? a])],
        q.get("action") ?? "",
      ),
    ),
    field("f-who", "Who", filterText(q, "who", "token, session, ses_…, guard")),
    field("f-from", "From", filterText(q, "from", "client address")),
    field(
      "f-days",
      "Period",
      filterSelect(
        "days",
        [
          ["", "all (400 days)"],
          ["1", "1 day"],
          ["7", "7 days"],
          ["30", "30 days"],
        ],
        q.get("days") ?? "",
      ),
    ),
  );
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Audit"),
        h(
          "p",
          {},
          `Every change, who made it (the admin token, or a console session by its tag) and from where, newest first. Kept ${data.retention_days ?? 400} days; no entry can be deleted, erasures included. Values are never kept: a changed field shows hashes of its values.`,
        ),
      ),
    ),
    card(null, form),
    card(
      null,
      table(
        [
          { label: "When", cell: (e) => when(e.when), class: "nowrap" },
          {
            label: "Action",
            cell: (e) =>
              h("span", { class: `badge audit-${e.action}` }, LABELS[e.action] ?? e.action),
          },
          { label: "Who", cell: (e) => h("span", { class: "mono" }, e.who) },
          { label: "From", cell: (e) => h("span", { class: "mono" }, e.from ?? "—") },
          {
            label: "What",
            cell: (e) =>
              h(
                "details",
                { class: "audit-details" },
                h("summary", {}, summary(e)),
                h("pre", { class: "json" }, JSON.stringify(e.details, null, 2)),
              ),
          },
        ],
        data.entries,
        { empty: "No entry matches these filters.", caption: "Audit trail" },
      ),
    ),
  );
}
