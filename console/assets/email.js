// The timeline of one e-mail: what was decided (detector, delivery time, links, rule, gating),
// every attempt of every delivery, and the payload as sent, with a replay button per delivery.
// Everything here comes from an e-mail or a receiver, so all of it is set as text.
import { api, badge, card, h, jsonBlock, ms, notify, put, when } from "./dom.js";

const REASONS = {
  outside_window: "outside the sending window",
  absence: "global absence",
  sending_disabled: "sending switched off",
  no_links: "no file-sharing link",
};

export async function render(main, { emailId }) {
  const { email: t } = await api(`/api/emails/${encodeURIComponent(emailId)}`);
  const links = Array.isArray(t.links) ? t.links : [];
  const facts = [
    ["E-mail id", h("code", {}, t.email_id)],
    ["Sender", t.sender ?? "—"],
    ["Detector", t.detector ?? "none"],
    ["Delivery time", t.delivery_time ?? "—"],
    ["Routing rule", t.rule ? `${t.rule.name} (${t.rule.id})` : "none matched (default URL)"],
    [
      "Links",
      links.length
        ? h(
            "ul",
            { class: "links" },
            links.map((l) =>
              h(
                "li",
                {},
                h("span", { class: "badge" }, l.provider ?? "link"),
                " ",
                h("code", {}, l.raw_url ?? ""),
              ),
            ),
          )
        : "none",
    ],
  ];
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("p", {}, h("a", { href: "/deliveries" }, "← Deliveries")),
        h(
          "h1",
          { class: "subject", id: "subject" },
          t.subject ?? "(subject unknown: no delivery archived)",
        ),
      ),
    ),
    card(
      "What was decided",
      h(
        "dl",
        { class: "facts" },
        facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
      ),
    ),
    t.decisions.length
      ? card(
          "Gating",
          h(
            "ol",
            { class: "steps" },
            t.decisions.map((d) =>
              h(
                "li",
                { class: `st-${d.status}` },
                badge(d.status),
                " ",
                when(d.timestamp),
                " · ",
                REASONS[d.reason] ?? d.reason ?? "",
                d.error ? h("span", { class: "muted" }, ` · ${d.error}`) : null,
              ),
            ),
          ),
        )
      : null,
    card(
      `Deliveries (${t.deliveries.length})`,
      t.deliveries.length
        ? t.deliveries.map(delivery)
        : h("p", { class: "empty" }, "No delivery: the e-mail was not sent (see above)."),
    ),
  );
}

/** Why an attempt ended as it did, in words. */
function reasonText(a) {
  if (a.status === "parked")
    return a.reason === "retries_exhausted"
      ? `parked after ${a.attempt} attempt${a.attempt > 1 ? "s" : ""}: the target parks until it answers again`
      : "parked: its target is paused";
  return `given up: ${a.reason}`;
}

function delivery(d) {
  const replay = h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      disabled: !d.replayable,
      title: d.replayable
        ? "Send again with the same delivery id"
        : "No longer in the archive (kept 14 days)",
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const r = await api(`/api/deliveries/${encodeURIComponent(d.delivery_id)}/replay`, {
            method: "POST",
          });
          const left = r.budget?.[0]?.budget?.available;
          notify(
            `Delivery ${d.delivery_id} queued again with the same delivery id${left === undefined ? "" : ` (${left} more replays to this target possible now)`}.`,
            "ok",
          );
        } catch (e) {
          notify(
            e.code === "replay_budget"
              ? `Not replayed: this target's replay budget is spent. Try again in ${e.retryAfter} s.`
              : `Replay failed: ${e.message}`,
            "error",
          );
        }
        button.disabled = false;
      },
    },
    "Replay",
  );
  return h(
    "article",
    { class: "delivery", "data-delivery": d.delivery_id },
    h(
      "div",
      { class: "delivery-head" },
      h(
        "div",
        {},
        h("strong", {}, d.webhook_url),
        " ",
        d.status ? badge(d.status) : badge("pending"),
        h("div", { class: "muted mono" }, d.delivery_id, d.rule ? ` · rule ${d.rule.name}` : ""),
        d.status === "parked"
          ? h(
              "div",
              { class: "muted", "data-next-probe": d.next_probe_at ?? "" },
              d.next_probe_at
                ? `Waits at its target; next probe at ${when(d.next_probe_at)}, then it is delivered in order.`
                : "Waits at its target until it is back (paused by an operator: resumed by hand).",
            )
          : null,
      ),
      replay,
    ),
    d.attempts.length
      ? h(
          "ol",
          { class: "steps", "aria-label": "Attempts" },
          d.attempts.map((a) =>
            h(
              "li",
              { class: `st-${a.status}`, "data-attempt": a.attempt },
              h("strong", {}, `Attempt ${a.attempt}`),
              " ",
              badge(a.status),
              ` ${when(a.timestamp)} · ${a.status_code ? `HTTP ${a.status_code}` : "no response"} · ${ms(a.duration_ms)}`,
              a.error && a.error !== `HTTP ${a.status_code}`
                ? h("div", { class: "muted" }, a.error)
                : null,
              a.reason ? h("div", { class: "muted" }, reasonText(a)) : null,
              a.next_retry_at
                ? h("div", { class: "muted" }, `next attempt at ${when(a.next_retry_at)}`)
                : null,
            ),
          ),
        )
      : h("p", { class: "muted" }, "No attempt logged yet."),
    d.payload
      ? h("details", {}, h("summary", {}, "Payload sent"), jsonBlock(d.payload))
      : h("p", { class: "muted" }, "Payload no longer archived."),
  );
}
