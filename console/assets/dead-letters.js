// Dead letters: deliveries and e-mails that will not be retried on their own. Replay one, or
// every one the filter selects after a confirmation that says how many.
import {
  api,
  badge,
  card,
  confirmDialog,
  emailLink,
  field,
  filterForm,
  filterSelect,
  filterText,
  h,
  notify,
  params,
  put,
  table,
  when,
} from "./dom.js";

const FILTERS = ["kind", "reason", "email_id", "target"];

export async function render(main) {
  const q = params();
  const filter = Object.fromEntries(FILTERS.filter((k) => q.get(k)).map((k) => [k, q.get(k)]));
  const data = await api(`/api/dead_letters?${new URLSearchParams({ limit: "200", ...filter })}`);
  const form = filterForm(
    "/dead-letters",
    "Filter dead letters",
    field(
      "d-kind",
      "Kind",
      filterSelect(
        "kind",
        ["", "delivery", "email", "unreadable"].map((k) => [k, k || "any"]),
        q.get("kind") ?? "",
      ),
    ),
    field("d-reason", "Reason", filterText(q, "reason", "not_retryable…")),
    field("d-email", "E-mail id", filterText(q, "email_id", "")),
    field("d-target", "Target", filterText(q, "target", "host")),
  );
  const replayAll = h(
    "button",
    { type: "button", class: "btn", id: "replay-all", onclick: () => replayMatching(filter) },
    "Replay all matching…",
  );
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Dead letters"),
        h(
          "p",
          {},
          "Kept 14 days. A replay sends the job again with a fresh attempt count and the same delivery id.",
        ),
      ),
      replayAll,
    ),
    card(null, form),
    card(
      null,
      table(
        [
          { label: "Died", cell: (d) => when(d.dead_at) },
          { label: "Kind", cell: (d) => d.kind },
          { label: "E-mail", cell: (d) => emailLink(d.email_id, d.email_id?.slice(0, 10)) },
          { label: "Target", cell: (d) => d.webhook_url ?? "—" },
          { label: "Reason", cell: (d) => badge(d.reason) },
          { label: "Error", cell: (d) => d.error ?? "—" },
          {
            label: "",
            cell: (d) =>
              h(
                "button",
                {
                  type: "button",
                  class: "btn btn-small",
                  "data-replay": d.id,
                  onclick: (e) => replayOne(d, e.currentTarget),
                },
                "Replay",
              ),
          },
        ],
        data.dead_letters,
        {
          empty: "No dead letter. Everything was delivered or is still being retried.",
          caption: "Dead letters",
        },
      ),
    ),
  );
}

async function replayOne(d, button) {
  button.disabled = true;
  try {
    await api(`/api/dead_letters/${encodeURIComponent(d.id)}/replay`, { method: "POST" });
    notify(`${d.id} queued again.`, "ok");
    button.closest("tr")?.remove();
  } catch (e) {
    notify(
      e.code === "replay_budget"
        ? `${d.id} not replayed: its target's replay budget is spent. Try again in ${e.retryAfter} s.`
        : `Replay of ${d.id} failed: ${e.message}`,
      "error",
    );
    button.disabled = false;
  }
}

async function replayMatching(filter) {
  try {
    const dry = await api("/api/dead_letters/replay?dry_run=true", {
      method: "POST",
      body: filter,
    });
    if (!dry.count) {
      notify("No dead letter matches this filter.", "info");
      return;
    }
    const ok = await confirmDialog(
      "Replay dead letters",
      `Replay ${dry.count} dead letter${dry.count > 1 ? "s" : ""} matching this filter?`,
      `Replay ${dry.count}`,
    );
    if (!ok) return;
    let replayed = 0;
    let failed = 0;
    let refused = 0;
    let retry = null;
    for (;;) {
      let r;
      try {
        r = await api("/api/dead_letters/replay", { method: "POST", body: filter });
      } catch (e) {
        if (e.code !== "replay_budget") throw e;
        // Nothing sent this time: the targets' replay budgets are spent.
        r = e.body;
      }
      replayed += r.replayed?.length ?? 0;
      failed += r.failed?.length ?? 0;
      refused = r.refused?.length ?? 0;
      retry = r.retry_after_secs ?? retry;
      if (!r.more || r.failed?.length || refused) break;
    }
    const parts = [`${replayed} replayed`];
    if (failed) parts.push(`${failed} failed`);
    if (refused)
      parts.push(
        `${refused} refused by the replay budget (per target and minute): replay them again in ${retry} s`,
      );
    notify(`${parts.join(", ")}.`, failed || refused ? "error" : "ok");
    if (!refused) setTimeout(() => location.reload(), 800);
  } catch (e) {
    notify(`Replay failed: ${e.message}`, "error");
  }
}
