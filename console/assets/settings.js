// Settings: the three gating documents as forms. Each field shows its effective value and where
// it comes from; a save sends only the fields changed, and an invalid value is shown beside its
// field with the API's message (the API saves nothing then).
import {
  api,
  ApiError,
  card,
  clearErrors,
  field,
  fieldError,
  h,
  notify,
  put,
  when,
} from "./dom.js";

const DOCS = {
  webhook_config: "Webhook and sending window",
  processing_prefs: "Processing",
  runtime_flags: "Runtime switches",
};
const LABELS = {
  webhook_url: "Default webhook URL",
  webhook_sending_enabled: "Sending enabled",
  webhook_time_start: "Sending window starts",
  webhook_time_end: "Sending window ends",
  absence_pause_enabled: "Absence pause",
  absence_pause_days: "Absence days",
  exclude_keywords: "Excluded keywords",
  max_email_size_mb: "Largest e-mail (MB)",
  mirror_media_to_custom: "Send file links",
  retry_count: "Retries after the first attempt",
  retry_delay_sec: "First retry delay (seconds)",
  webhook_timeout_sec: "Attempt timeout (seconds)",
  gmail_ingress_enabled: "Gmail ingest enabled",
  allow_custom_webhook_without_links: "Send e-mails without a link",
};
const HINTS = {
  webhook_url: "https:// URL or a Make.com token. Shown masked; leave it as is to keep it.",
  webhook_time_start: "HH:MM, HHhMM or HHh; empty: always open.",
  webhook_time_end: "Exclusive; before the start: the window crosses midnight.",
  exclude_keywords: "Comma separated.",
};
const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

const show = (v) =>
  v === null || v === undefined || v === ""
    ? "unset"
    : Array.isArray(v)
      ? v.join(", ") || "none"
      : String(v);

export async function render(main) {
  const data = await api("/api/settings");
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Settings"),
        h(
          "p",
          {},
          "Stored values win over the environment (wrangler.toml [vars]), which wins over the built-in defaults.",
        ),
      ),
    ),
    Object.entries(DOCS).map(([doc, title]) => docForm(doc, title, data.documents[doc])),
  );
}

function input(doc, f) {
  const kind = f.kind.type;
  const v = f.value;
  if (kind === "boolean") return h("input", { type: "checkbox", checked: v === true });
  if (kind === "integer")
    return h("input", {
      type: "number",
      inputmode: "numeric",
      min: f.kind.min,
      max: f.kind.max,
      step: 1,
      value: v ?? "",
    });
  if (kind === "weekdays") {
    return h(
      "fieldset",
      { class: "days", "data-kind": "weekdays" },
      h("legend", { class: "sr-only" }, LABELS[f.name] ?? f.name),
      DAYS.map((d) =>
        h(
          "span",
          { class: "check" },
          h("input", {
            type: "checkbox",
            id: `${doc}-${f.name}-${d}`,
            value: d,
            checked: (v ?? []).includes(d),
          }),
          h("label", { for: `${doc}-${f.name}-${d}` }, d.slice(0, 3)),
        ),
      ),
    );
  }
  if (kind === "list") return h("input", { type: "text", value: (v ?? []).join(", ") });
  return h("input", {
    type: "text",
    value: v ?? "",
    placeholder: kind === "time_of_day" ? "HH:MM" : "",
    autocomplete: "off",
    spellcheck: "false",
  });
}

function read(el, kind) {
  if (kind === "boolean") return el.checked;
  if (kind === "integer") return el.value.trim() === "" ? null : Number(el.value);
  if (kind === "weekdays") return [...el.querySelectorAll("input:checked")].map((c) => c.value);
  if (kind === "list")
    return el.value
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  return el.value.trim();
}

function docForm(doc, title, view) {
  const inputs = {};
  const rows = view.fields.map((f) => {
    const id = `${doc}-${f.name}`;
    const el = (inputs[f.name] = input(doc, f));
    const source = f.source === "environment" ? `environment (${f.env_var})` : f.source;
    const reset =
      f.source === "stored"
        ? h(
            "button",
            {
              type: "button",
              class: "btn btn-small btn-quiet",
              "aria-label": `Reset ${LABELS[f.name] ?? f.name} to its default`,
              onclick: () => save(doc, { [f.name]: null }, form),
            },
            "Reset",
          )
        : null;
    const label = LABELS[f.name] ?? f.name;
    const control =
      f.kind.type === "boolean"
        ? h(
            "div",
            { class: "field" },
            h("div", { class: "check" }, Object.assign(el, { id }), h("label", { for: id }, label)),
            h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
          )
        : field(id, label, el, HINTS[f.name]);
    if (f.kind.type === "weekdays") el.id = id;
    return h(
      "div",
      { class: "setting", "data-field": f.name },
      control,
      h(
        "div",
        { class: "meta" },
        h("span", { class: `src src-${f.source}` }, source),
        f.source === "stored" ? h("span", {}, `default: ${show(f.default)}`) : null,
        reset,
      ),
    );
  });
  const form = h(
    "form",
    {
      novalidate: true,
      "data-doc": doc,
      onsubmit: (event) => {
        event.preventDefault();
        const update = {};
        for (const f of view.fields) {
          const now = read(inputs[f.name], f.kind.type);
          if (
            JSON.stringify(now) !==
            JSON.stringify(
              f.value ??
                (f.kind.type === "list" || f.kind.type === "weekdays"
                  ? []
                  : f.kind.type === "boolean"
                    ? false
                    : ""),
            )
          )
            update[f.name] = now;
        }
        if (!Object.keys(update).length) {
          notify("Nothing changed.", "info");
          return;
        }
        save(doc, update, form);
      },
    },
    rows,
    h(
      "div",
      { class: "actions" },
      h("button", { class: "btn btn-primary", type: "submit" }, `Save ${title.toLowerCase()}`),
    ),
  );
  return card(
    title,
    h(
      "p",
      { class: "muted" },
      h("code", {}, doc),
      view._updated_at ? ` · saved ${when(view._updated_at)}` : " · never saved",
    ),
    form,
  );
}

async function save(doc, update, form) {
  clearErrors(form);
  try {
    await api(`/api/${doc}`, { method: "PUT", body: update });
    notify(`${DOCS[doc]} saved.`, "ok");
    const main = document.getElementById("main");
    await render(main);
  } catch (e) {
    if (e instanceof ApiError && e.field && fieldError(`${doc}-${e.field}`, e.message)) {
      document.getElementById(`${doc}-${e.field}`)?.focus();
      notify("Not saved: a value is invalid (shown beside its field).", "error");
    } else {
      notify(`Not saved: ${e.message}`, "error");
    }
  }
}
