// Deliveries: the delivery log, newest first, filtered and paginated. The filters are a plain
// GET form, so a filtered view is a URL that can be shared or reloaded.
import {
  api,
  badge,
  card,
  emailLink,
  field,
  filterForm,
  filterSelect,
  filterText,
  h,
  ms,
  params,
  put,
  table,
  when,
} from "./dom.js";

const PAGE = 50;
const STATUSES = ["", "success", "error", "retrying", "held", "skipped", "blocked"];

export async function render(main) {
  const q = params();
  const offset = Math.max(0, Number(q.get("offset")) || 0);
  const api_q = new URLSearchParams({
    limit: String(PAGE),
    offset: String(offset),
    days: q.get("days") || "7",
  });
  for (const k of ["status", "detector", "target", "email_id", "delivery_id"])
    if (q.get(k)) api_q.set(k, q.get(k));
  const data = await api(`/api/webhook_logs?${api_q}`);
  const form = filterForm(
    "/deliveries",
    "Filter deliveries",
    field(
      "f-status",
      "Status",
      filterSelect(
        "status",
        STATUSES.map((s) => [s, s || "any"]),
        q.get("status") ?? "",
      ),
    ),
    field(
      "f-days",
      "Period",
      filterSelect(
        "days",
        [
          ["1", "1 day"],
          ["7", "7 days"],
          ["30", "30 days"],
        ],
        q.get("days") || "7",
      ),
    ),
    field("f-detector", "Detector", filterText(q, "detector", "recadrage, none…")),
    field("f-target", "Target", filterText(q, "target", "host")),
    field("f-email", "E-mail id", filterText(q, "email_id", "")),
    field("f-delivery", "Delivery id", filterText(q, "delivery_id", "dlv_…")),
  );
  const page = (o) => {
    const p = params();
    p.set("offset", String(o));
    return `/deliveries?${p}`;
  };
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    offset > 0
      ? h("a", { class: "btn", href: page(Math.max(0, offset - PAGE)), rel: "prev" }, "← Newer")
      : h("span"),
    h("span", { class: "muted" }, data.count ? `${offset + 1}–${offset + data.count}` : ""),
    data.next_offset !== null
      ? h("a", { class: "btn", href: page(data.next_offset), rel: "next" }, "Older →")
      : h("span"),
  );
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Deliveries"),
        h(
          "p",
          {},
          "Every attempt and every decision, newest first. Open an e-mail for its timeline.",
        ),
      ),
    ),
    card(null, form),
    card(
      null,
      table(
        [
          { label: "Time", cell: (e) => when(e.timestamp), class: "nowrap" },
          { label: "Status", cell: (e) => badge(e.status) },
          { label: "E-mail", cell: (e) => emailLink(e.email_id, e.email_id?.slice(0, 10)) },
          { label: "Detector", cell: (e) => e.detector ?? "none" },
          { label: "Target", cell: (e) => e.webhook_url || "—" },
          { label: "Attempt", cell: (e) => (e.attempt ? String(e.attempt) : "—") },
          { label: "HTTP", cell: (e) => (e.status_code ? String(e.status_code) : "—") },
          { label: "Duration", cell: (e) => (e.delivery_id ? ms(e.duration_ms) : "—") },
          { label: "Detail", cell: (e) => [e.error, e.reason].filter(Boolean).join(" · ") || "—" },
        ],
        data.logs,
        { empty: "No delivery matches these filters.", caption: "Delivery log" },
      ),
      pager,
    ),
  );
}
