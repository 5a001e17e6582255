// Targets: the health of every webhook target (URLs masked). Pause one (after a confirmation:
// its deliveries park) or resume it (they drain in order), then the list is read again.
import { ago, api, badge, card, confirmDialog, h, notify, put, table, when } from "./dom.js";

const STATE_TEXT = { healthy: "healthy", paused: "paused", draining: "draining" };

export async function render(main) {
  const list = h("div", { id: "targets" });
  const refresh = h(
    "button",
    { type: "button", class: "btn", onclick: () => load(list) },
    "Refresh",
  );
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Targets"),
        h(
          "p",
          {},
          "While a target is paused its deliveries park: kept in order, neither attempted nor dead-lettered, until it is back. Replays to a target are limited per minute (its replay budget); over it they are refused and can be run again once the budget allows.",
        ),
      ),
      refresh,
    ),
    card(null, list),
  );
  await load(list);
}

/** Reads the targets again and shows them; focus returns to the button it was on, if any. */
async function load(list, focusId) {
  const data = await api("/api/targets");
  put(
    list,
    table(
      [
        {
          label: "Target",
          cell: (t) => h("span", {}, t.target, h("br"), h("span", { class: "muted mono" }, t.id)),
        },
        { label: "State", cell: state },
        { label: "Failure run", cell: (t) => String(t.failure_run) },
        { label: "Parked", cell: (t) => String(t.parked) },
        { label: "Last success", cell: (t) => moment(t.last_success_at, "never") },
        { label: "Last error", cell: lastError },
        { label: "Next probe", cell: nextProbe },
        { label: "Replays", cell: budget },
        { label: "", cell: (t) => action(t, list), class: "nowrap" },
      ],
      data.targets,
      {
        empty: "No target yet: set a webhook URL in Settings, or a rule's URL.",
        caption: "Targets",
      },
    ),
  );
  if (focusId) list.querySelector(`[data-target-action="${focusId}"]`)?.focus();
}

const moment = (iso, none = "—") =>
  iso ? h("span", {}, when(iso), h("br"), h("span", { class: "muted" }, ago(iso))) : none;

function state(t) {
  const parts = [badge(STATE_TEXT[t.state] ?? t.state)];
  if (t.state === "paused")
    parts.push(
      h("br"),
      h(
        "span",
        { class: "muted", "data-pause-cause": "" },
        t.manual ? "by an operator" : (t.pause_cause ?? "after failures"),
      ),
    );
  if (t.since_ms)
    parts.push(
      h("br"),
      h("span", { class: "muted" }, `since ${when(new Date(t.since_ms).toISOString())}`),
    );
  return h("span", { "data-state": t.state }, parts);
}

function lastError(t) {
  if (!t.last_error) return "—";
  return h(
    "span",
    {},
    t.last_error,
    t.last_failure_at ? [h("br"), h("span", { class: "muted" }, when(t.last_failure_at))] : null,
  );
}

function nextProbe(t) {
  if (t.state === "paused" && t.manual) return "none (paused by hand)";
  return t.next_probe_at && t.state !== "healthy" ? moment(t.next_probe_at) : "—";
}

/** The replay budget: how many replays could go now, of how many a minute. */
function budget(t) {
  const b = t.replay_budget;
  if (!b) return "—";
  return h(
    "span",
    { class: "budget", "data-budget": t.id },
    `${b.available} of ${b.per_minute} now`,
    b.full_at_ms
      ? [
          h("br"),
          h("span", { class: "muted" }, `full ${ago(new Date(b.full_at_ms).toISOString())}`),
        ]
      : null,
  );
}

function action(t, list) {
  const pause = t.state !== "paused";
  return h(
    "button",
    {
      type: "button",
      class: ["btn", "btn-small", pause && "btn-danger"],
      "data-target-action": t.id,
      "aria-label": `${pause ? "Pause" : "Resume"} ${t.target} (${t.id})`,
      onclick: (e) => act(t, pause, e.currentTarget, list),
    },
    pause ? "Pause" : "Resume",
  );
}

async function act(t, pause, button, list) {
  const name = `${t.target} (${t.id})`;
  if (pause) {
    const ok = await confirmDialog(
      "Pause this target?",
      `Deliveries to ${name} will park: kept in order, neither attempted nor dead-lettered, until you resume it. A target paused by hand is not probed.`,
      "Pause",
    );
    if (!ok) {
      button.focus();
      return;
    }
  }
  button.disabled = true;
  try {
    const r = await api(`/api/targets/${encodeURIComponent(t.id)}/${pause ? "pause" : "resume"}`, {
      method: "POST",
    });
    const s = r.target?.state ?? (pause ? "paused" : "resumed");
    const parked = r.target?.parked ?? 0;
    notify(
      pause
        ? `${name} paused at ${when(r.at)}: its deliveries now park.`
        : `${name} resumed at ${when(r.at)} (now ${s})${parked ? `: ${parked} parked ${parked > 1 ? "deliveries drain" : "delivery drains"} in order` : ""}.`,
      "ok",
    );
  } catch (e) {
    notify(`${pause ? "Pause" : "Resume"} of ${name} failed: ${e.message}`, "error");
  }
  try {
    await load(list, t.id);
  } catch (e) {
    notify(`The targets could not be read again: ${e.message}`, "error");
    button.disabled = false;
  }
}
