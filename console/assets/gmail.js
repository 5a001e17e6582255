// Gmail push: the connected mailbox, its watch (expiry, renewal), the last notification and
// sync, the e-mails taken by the push and by the Apps Script, and Connect / Sync now /
// Disconnect. Connecting goes to Google's consent page and comes back to this page
// (`?connected=1`, or `?error=<code>` with the message the API gives for it).
import { ago, api, card, confirmDialog, h, notify, params, put, when } from "./dom.js";

const OUTCOME = {
  ok: "done",
  more: "more to take: going on",
  retry: "failed: trying again later",
  blocked: "blocked (ingest or sending switched off): the catch-up tries again",
  reconnect: "stopped: Gmail must be reconnected",
};

export async function render(main) {
  await load(main);
  const p = params();
  const g = main.gmail;
  if (p.get("connected")) notify(`Gmail connected: ${g?.email_address ?? "the mailbox"}.`, "ok");
  else if (p.get("error"))
    notify(
      `Gmail was not connected: ${g?.connect_errors?.[p.get("error")] ?? "the connection failed."}`,
      "error",
    );
  if (p.get("connected") || p.get("error")) history.replaceState(null, "", "/gmail");
}

async function load(main, focusId) {
  const g = await api("/api/gmail");
  main.gmail = g;
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Gmail push"),
        h(
          "p",
          {},
          "Gmail tells Facteur about a new message within seconds; the Apps Script stays the fallback, and an e-mail that comes both ways is delivered once.",
        ),
      ),
      actions(main, g),
    ),
    g.configured ? [reconnect(g), mailbox(g), taken(g)] : notConfigured(),
  );
  if (focusId) document.getElementById(focusId)?.focus();
}

function notConfigured() {
  return card(
    "Not configured",
    h(
      "p",
      {},
      "Set GMAIL_CLIENT_ID, GMAIL_PUBSUB_TOPIC (wrangler.toml) and the secrets GMAIL_CLIENT_SECRET and GMAIL_TOKEN_KEY, then connect the mailbox here. The steps, Google Cloud included: docs/gmail.md.",
    ),
  );
}

function actions(main, g) {
  if (!g.configured) return null;
  const connect = h(
    "button",
    {
      type: "button",
      id: "gmail-connect",
      class: ["btn", !g.connected || g.reconnect_needed ? "btn-primary" : null],
      onclick: (e) => connectGmail(e.currentTarget),
    },
    g.connected ? "Reconnect Gmail" : "Connect Gmail",
  );
  const sync = h(
    "button",
    {
      type: "button",
      id: "gmail-sync",
      class: "btn",
      disabled: !g.connected || Boolean(g.reconnect_needed),
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        try {
          const r = await api("/api/gmail/sync", { method: "POST" });
          notify(
            r.status === "scheduled" ? "A sync pass runs now." : `Not synced: ${r.status}.`,
            "ok",
          );
          // The pass runs in the mailbox's object: read its outcome a moment later.
          await new Promise((resolve) => setTimeout(resolve, 1500));
        } catch (err) {
          notify(`Sync failed: ${err.message}`, "error");
        }
        await load(main, "gmail-sync");
      },
    },
    "Sync now",
  );
  const disconnect = h(
    "button",
    {
      type: "button",
      id: "gmail-disconnect",
      class: "btn btn-danger",
      disabled: !g.connected,
      onclick: async (e) => {
        const button = e.currentTarget;
        const ok = await confirmDialog(
          "Disconnect Gmail?",
          `Facteur stops watching ${g.email_address} and Google's grant is revoked. The Apps Script keeps pushing e-mails.`,
          "Disconnect",
        );
        if (!ok) return button.focus();
        try {
          await api("/api/gmail/disconnect", { method: "POST" });
          notify("Gmail disconnected.", "ok");
        } catch (err) {
          notify(`Disconnect failed: ${err.message}`, "error");
        }
        await load(main, "gmail-connect");
      },
    },
    "Disconnect",
  );
  return h("div", { class: "actions" }, connect, sync, disconnect);
}

/** Starts the connection: Google's consent page, then back to /gmail. */
export async function connectGmail(button) {
  if (button) button.disabled = true;
  try {
    const r = await api("/api/gmail/connect", { method: "POST" });
    location.assign(r.authorization_url);
  } catch (err) {
    notify(`Gmail could not be connected: ${err.message}`, "error");
    if (button) button.disabled = false;
  }
}

function reconnect(g) {
  if (!g.reconnect_needed) return null;
  return h(
    "div",
    { class: "notice notice-error", role: "alert", id: "gmail-reconnect" },
    h("strong", {}, "Reconnect Gmail. "),
    `Its refresh token stopped working ${ago(g.reconnect_needed.since)} (${g.reconnect_needed.error}); nothing is taken by the push until then. The Apps Script keeps delivering.`,
  );
}

const moment = (iso, none = "never") =>
  iso ? h("span", {}, when(iso), " ", h("span", { class: "muted" }, `(${ago(iso)})`)) : none;

function mailbox(g) {
  const facts = [
    ["Mailbox", g.connected ? h("span", { "data-mailbox": "" }, g.email_address) : "not connected"],
    ["Label", g.label ?? "—"],
  ];
  if (g.connected) {
    facts.push(["Connected", moment(g.connected_at)]);
    facts.push([
      "Watch expires",
      g.watch
        ? h(
            "span",
            { "data-watch": g.watch.expiring ? "expiring" : "ok" },
            moment(g.watch.expires_at),
            g.watch.expiring ? h("strong", {}, " — within 48 h: renewals are failing") : "",
          )
        : "no watch",
    ]);
    facts.push(["Watch renewed", moment(g.watch?.renewed_at)]);
    if (g.watch_error) facts.push(["Last renewal error", g.watch_error]);
    facts.push([
      "Last notification",
      g.last_notification
        ? h(
            "span",
            {},
            moment(g.last_notification.at),
            ` · history ${g.last_notification.history_id}`,
          )
        : "none yet",
    ]);
    const s = g.last_sync;
    facts.push([
      "Last sync",
      s
        ? h(
            "span",
            { "data-sync": s.outcome },
            moment(s.at),
            ` · ${s.kind === "full" ? "full sync" : "history"}: ${OUTCOME[s.outcome] ?? s.outcome}; ${s.taken} queued, ${s.already} already taken, ${s.skipped} skipped`,
            s.detail ? h("br") : null,
            s.detail ? h("span", { class: "muted" }, s.detail) : null,
          )
        : "none yet",
    ]);
    if (g.next_retry_at) facts.push(["Next try", moment(g.next_retry_at)]);
    facts.push(["Cursor (history id)", g.cursor ?? "full sync under way"]);
    facts.push([
      "Notifications",
      `${g.notifications.received} received, ${g.notifications.stale} already covered`,
    ]);
  }
  facts.push([
    "Pushes",
    g.push_configured
      ? "accepted from the push subscription's service account"
      : "refused: set GMAIL_PUSH_AUDIENCE and GMAIL_PUSH_SERVICE_ACCOUNT (the catch-up still syncs every 5 minutes)",
  ]);
  facts.push(["Redirect URI", h("span", { class: "mono" }, g.redirect_uri ?? "—")]);
  return card(
    "Mailbox",
    h(
      "dl",
      { class: "facts", id: "gmail-facts" },
      facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
  );
}

function taken(g) {
  const t = g.taken;
  const skipped =
    t.skipped.deleted + t.skipped.too_large + t.skipped.invalid + t.skipped.sender_not_allowed;
  const tile = (label, value, sub, key) =>
    h(
      "div",
      { class: "tile", "data-taken": key },
      h("div", { class: "label" }, label),
      h("div", { class: "value" }, String(value)),
      sub ? h("div", { class: "sub" }, sub) : null,
    );
  return card(
    "E-mails taken since connected",
    h(
      "div",
      { class: "grid" },
      tile("By the push", t.push, "queued within seconds", "push"),
      tile("By the Apps Script", t.script, "queued by the ingest", "script"),
      tile("Already taken", t.already, "found by the push, taken before", "already"),
      tile(
        "Skipped",
        skipped,
        `${t.skipped.deleted} deleted, ${t.skipped.too_large} too large, ${t.skipped.invalid} invalid, ${t.skipped.sender_not_allowed} not allowed`,
        "skipped",
      ),
    ),
  );
}
