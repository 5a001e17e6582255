// Routing rules: list, add, edit, reorder and delete, then save the whole list. A "try it" panel
// runs the dry run with the draft (not yet saved) rules on a pasted e-mail or one from the log.
// Saved rules' webhook URLs are shown masked; left unchanged, the stored URL is kept.
import {
  api,
  ApiError,
  badge,
  card,
  clearErrors,
  field,
  h,
  jsonBlock,
  notify,
  put,
  when,
} from "./dom.js";

const FIELDS = ["sender", "subject", "body"];
const OPERATORS = ["contains", "equals", "regex"];
let draft = { rules: [] };
let main;

const newCondition = () => ({
  field: "subject",
  operator: "contains",
  value: "",
  case_sensitive: false,
});
const idOf = (path) => path.replace(/\]\.|\[|\]|\./g, "-").replace(/-$/, "");

export async function render(root) {
  main = root;
  const { config } = await api("/api/routing_rules");
  draft = { rules: structuredClone(config.rules ?? []) };
  draw(config._updated_at);
}

function draw(updatedAt) {
  const list = h(
    "div",
    { id: "rule-list" },
    draft.rules.length
      ? draft.rules.map(ruleCard)
      : h("p", { class: "empty" }, "No rule: every e-mail goes to the default webhook URL."),
  );
  put(
    main,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Routing rules"),
        h("p", {}, "Rules are tried in order; the first whose conditions all match wins."),
      ),
    ),
    h(
      "div",
      { class: "cols" },
      h(
        "div",
        {},
        card(
          `Rules (${draft.rules.length})`,
          h("p", { class: "muted" }, updatedAt ? `Saved ${when(updatedAt)}.` : "Never saved."),
          h("p", { id: "rules-error", class: "field-error", hidden: true }),
          list,
          h(
            "div",
            { class: "actions" },
            h(
              "button",
              { type: "button", class: "btn", id: "add-rule", onclick: addRule },
              "Add a rule",
            ),
            h(
              "button",
              { type: "button", class: "btn btn-primary", id: "save-rules", onclick: save },
              "Save rules",
            ),
          ),
        ),
      ),
      tryPanel(),
    ),
  );
}

function addRule() {
  draft.rules.push({
    id: "",
    name: "",
    conditions: [newCondition()],
    actions: { webhook_url: "", priority: "normal", stop_processing: false },
  });
  draw();
  document.getElementById(idOf(`rules[${draft.rules.length - 1}].name`))?.focus();
}

function bind(el, get, set) {
  el.addEventListener(el.type === "checkbox" ? "change" : "input", () =>
    set(el.type === "checkbox" ? el.checked : el.value),
  );
  if (el.type === "checkbox") el.checked = Boolean(get());
  else el.value = get() ?? "";
  return el;
}

const choose = (options, current) =>
  h(
    "select",
    {},
    options.map((o) => h("option", { value: o, selected: o === current }, o)),
  );

function ruleCard(rule, i) {
  const p = `rules[${i}]`;
  const move = (to) => () => {
    const [r] = draft.rules.splice(i, 1);
    draft.rules.splice(to, 0, r);
    draw();
    document.getElementById(idOf(`rules[${to}].name`))?.focus();
  };
  const conds = rule.conditions.map((c, j) => {
    const cp = `${p}.conditions[${j}]`;
    return h(
      "div",
      { class: "cond" },
      field(
        idOf(`${cp}.field`),
        "Field",
        bind(
          choose(FIELDS, c.field),
          () => c.field,
          (v) => (c.field = v),
        ),
      ),
      field(
        idOf(`${cp}.operator`),
        "Operator",
        bind(
          choose(OPERATORS, c.operator),
          () => c.operator,
          (v) => (c.operator = v),
        ),
      ),
      field(
        idOf(`${cp}.value`),
        "Value",
        bind(
          h("input", { type: "text", autocomplete: "off", spellcheck: "false" }),
          () => c.value,
          (v) => (c.value = v),
        ),
      ),
      h(
        "div",
        { class: "check" },
        bind(
          h("input", { type: "checkbox", id: idOf(`${cp}.case_sensitive`) }),
          () => c.case_sensitive,
          (v) => (c.case_sensitive = v),
        ),
        h("label", { for: idOf(`${cp}.case_sensitive`) }, "Case"),
      ),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet",
          "aria-label": `Remove condition ${j + 1}`,
          disabled: rule.conditions.length === 1,
          onclick: () => {
            rule.conditions.splice(j, 1);
            draw();
          },
        },
        "✕",
      ),
    );
  });
  const a = rule.actions;
  return h(
    "section",
    { class: "rule", "data-rule": i, "aria-label": `Rule ${i + 1}` },
    h(
      "div",
      { class: "rule-head" },
      h(
        "h3",
        {},
        `Rule ${i + 1}`,
        rule.id ? h("span", { class: "muted mono" }, ` · ${rule.id}`) : null,
      ),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            "aria-label": `Move rule ${i + 1} up`,
            disabled: i === 0,
            onclick: move(i - 1),
          },
          "↑",
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            "aria-label": `Move rule ${i + 1} down`,
            disabled: i === draft.rules.length - 1,
            onclick: move(i + 1),
          },
          "↓",
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small btn-danger",
            "aria-label": `Delete rule ${i + 1}`,
            onclick: () => {
              draft.rules.splice(i, 1);
              draw();
            },
          },
          "Delete",
        ),
      ),
    ),
    h("p", { class: "field-error", id: `${idOf(p)}-error`, hidden: true }),
    field(
      idOf(`${p}.name`),
      "Name",
      bind(
        h("input", { type: "text", autocomplete: "off" }),
        () => rule.name,
        (v) => (rule.name = v),
      ),
    ),
    h("h4", { class: "sr-only" }, "Conditions"),
    h("p", { class: "field-error", id: `${idOf(`${p}.conditions`)}-error`, hidden: true }),
    conds,
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        onclick: () => {
          rule.conditions.push(newCondition());
          draw();
        },
      },
      "Add a condition",
    ),
    h(
      "div",
      { class: "row" },
      field(
        idOf(`${p}.actions.webhook_url`),
        "Webhook URL",
        bind(
          h("input", {
            type: "text",
            autocomplete: "off",
            spellcheck: "false",
            placeholder: "https://… or a Make.com token",
          }),
          () => a.webhook_url,
          (v) => (a.webhook_url = v),
        ),
      ),
      field(
        idOf(`${p}.actions.priority`),
        "Priority",
        bind(
          choose(["normal", "high"], a.priority),
          () => a.priority,
          (v) => (a.priority = v),
        ),
      ),
      h(
        "div",
        { class: "check" },
        bind(
          h("input", { type: "checkbox", id: idOf(`${p}.actions.stop_processing`) }),
          () => a.stop_processing,
          (v) => (a.stop_processing = v),
        ),
        h(
          "label",
          { for: idOf(`${p}.actions.stop_processing`) },
          "Stop: not also to the default URL",
        ),
      ),
    ),
  );
}

/** Shows an API error beside the field its path names (or the closest container). */
function showError(e) {
  clearErrors(main);
  let path = e instanceof ApiError ? e.field : null;
  while (path) {
    const id = idOf(path);
    const err = document.getElementById(`${id}-error`);
    if (err) {
      err.hidden = false;
      put(err, e.message);
      const input = document.getElementById(id);
      input?.setAttribute("aria-invalid", "true");
      (input ?? err).scrollIntoView?.({ block: "center" });
      input?.focus();
      return;
    }
    const shorter = path.replace(/(\.[a-z_]+|\[\d+\])$/, "");
    if (shorter === path) break;
    path = shorter;
  }
  const err = document.getElementById("rules-error");
  err.hidden = false;
  put(err, e.message);
}

async function save() {
  try {
    const { config } = await api("/api/routing_rules", {
      method: "PUT",
      body: { rules: draft.rules },
    });
    draft = { rules: structuredClone(config.rules) };
    draw(config._updated_at);
    notify(`${draft.rules.length} rule${draft.rules.length === 1 ? "" : "s"} saved.`, "ok");
  } catch (e) {
    showError(e);
    notify("Not saved: see the message beside the rule.", "error");
  }
}

function tryPanel() {
  const out = h("div", { id: "try-result", "aria-live": "polite" });
  const subject = h("input", { type: "text", autocomplete: "off" });
  const sender = h("input", {
    type: "text",
    autocomplete: "off",
    value: "Someone <someone@example.com>",
  });
  const body = h("textarea", { rows: 6 });
  const pick = h("select", {}, h("option", { value: "" }, "Loading recent e-mails…"));
  pick.addEventListener("change", async () => {
    if (!pick.value) return;
    try {
      const { email } = await api(`/api/emails/${encodeURIComponent(pick.value)}`);
      const payload = email.deliveries.find((d) => d.payload)?.payload;
      if (!payload) throw new Error("its payload is no longer archived");
      subject.value = payload.subject ?? "";
      sender.value = payload.sender_address ?? "";
      body.value = payload.email_content ?? "";
    } catch (e) {
      notify(`That e-mail cannot be loaded: ${e.message}`, "error");
    }
  });
  recent(pick);
  const run = async () => {
    clearErrors(main);
    put(out, h("p", { class: "muted" }, "Running…"));
    try {
      const r = await api("/api/test/dry_run", {
        method: "POST",
        body: {
          subject: subject.value,
          sender: sender.value,
          body: body.value,
          date: new Date().toISOString(),
          routing_rules: { rules: draft.rules },
        },
      });
      put(out, result(r));
    } catch (e) {
      put(out);
      if (e.field?.startsWith("rules")) showError(e);
      else notify(`Dry run failed: ${e.message}`, "error");
    }
  };
  return card(
    "Try it",
    h(
      "p",
      { class: "muted" },
      "Runs the draft rules, saved or not, on an e-mail. Nothing is sent.",
    ),
    field("try-pick", "Pick an e-mail from the log", pick),
    field("try-subject", "Subject", subject),
    field("try-sender", "Sender", sender),
    field("try-body", "Body", body),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", class: "btn btn-primary", id: "try-run", onclick: run },
        "Try with the draft rules",
      ),
    ),
    out,
  );
}

async function recent(select) {
  try {
    const { logs } = await api("/api/webhook_logs?limit=200&days=7");
    const seen = new Map();
    for (const l of logs) if (l.delivery_id && !seen.has(l.email_id)) seen.set(l.email_id, l);
    put(
      select,
      h("option", { value: "" }, seen.size ? "Choose…" : "No delivered e-mail in 7 days"),
      [...seen.values()].map((l) =>
        h(
          "option",
          { value: l.email_id },
          `${l.timestamp.slice(0, 16).replace("T", " ")} · ${l.detector ?? "none"} · ${l.email_id.slice(0, 10)}`,
        ),
      ),
    );
  } catch {
    put(select, h("option", { value: "" }, "The log cannot be read"));
  }
}

function result(r) {
  const facts = [
    ["Decision", badge(r.decision), r.reason ? ` ${r.reason}` : ""],
    ["Matched rule", r.matched_rule ? `${r.matched_rule.name} (${r.matched_rule.id})` : "none"],
    ["Detector", r.detector ?? "none"],
    ["Links", String(r.delivery_links?.length ?? 0)],
  ];
  if (r.held_until) facts.push(["Held until", r.held_until]);
  return h(
    "div",
    { class: "delivery" },
    h(
      "dl",
      { class: "facts" },
      facts.map(([k, ...v]) => [h("dt", {}, k), h("dd", { "data-fact": k }, v)]),
    ),
    (r.deliveries ?? []).map((d) =>
      h(
        "div",
        { class: "target" },
        h("h3", {}, `→ ${d.webhook_url}`),
        h("p", { class: "muted mono" }, d.delivery_id),
        h("details", {}, h("summary", {}, "Payload"), jsonBlock(d.payload)),
      ),
    ),
  );
}
