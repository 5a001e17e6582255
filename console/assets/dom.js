// Shared helpers of the console. Every value that comes from the API is put in the page as a
// text node (h() never parses HTML), so an e-mail's subject, body or links can never run.

/** Creates an element: h("a", { href: "/x", class: "btn", onclick: fn }, "text", child). */
export function h(tag, props = {}, ...children) {
  return fill(document.createElement(tag), props, children);
}

/** Creates an SVG element the same way. */
export function s(tag, props = {}, ...children) {
  return fill(document.createElementNS("http://www.w3.org/2000/svg", tag), props, children);
}

function fill(el, props, children) {
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class")
      el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "disabled") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the children of `el`. */
export function put(el, ...children) {
  el.replaceChildren();
  return fill(el, {}, children);
}

/** An error answered by the API: `message`, and `field` when one field is at fault. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.field = body?.field;
    /** Seconds to wait (a 429: too many failed attempts, or the replay budget). */
    this.retryAfter = body?.retry_after_secs;
    this.body = body;
  }
}

/** Calls the admin API with the session cookie; a lost session goes back to the sign-in page. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  if (res.status === 401 && path !== "/api/session") {
    location.assign("/login");
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** The page's query parameters. */
export const params = () => new URLSearchParams(location.search);

const pad = (n) => String(n).padStart(2, "0");

/** `2026-05-04 09:30:12` in the browser's time zone. */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `3 min ago`. */
export function ago(iso) {
  if (!iso) return "never";
  const sec = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (sec < 0) return "in " + span(-sec);
  return span(sec) + " ago";
}

function span(sec) {
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${Math.round(sec / 3600)} h`;
  return `${Math.round(sec / 86400)} days`;
}

/** `97.5 %`, or `—`. */
export const pct = (r) =>
  r === null || r === undefined ? "—" : `${(r * 100).toFixed(r >= 0.9995 || r === 0 ? 0 : 1)} %`;

/** `120 ms`, `3.4 s`, or `—`. */
export const ms = (v) =>
  v === null || v === undefined
    ? "—"
    : v < 1000
      ? `${Math.round(v)} ms`
      : `${(v / 1000).toFixed(1)} s`;

/** A status badge: success, error, retrying, skipped, held, blocked. */
export const badge = (status) =>
  h("span", { class: `badge st-${status ?? "none"}` }, status ?? "—");

/** The link to an e-mail's timeline. */
export const emailLink = (id, label = id) =>
  id ? h("a", { href: `/emails/${encodeURIComponent(id)}`, class: "mono" }, label) : "—";

/** Announces a message in the page's live region. */
export function notify(message, kind = "info", ...extra) {
  const region = document.getElementById("notice");
  if (!region) return;
  put(
    region,
    h(
      "div",
      { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" },
      message,
      ...extra,
    ),
  );
}

/** A labelled field: the input, a hint, and the place for its error. */
export function field(id, label, input, hint) {
  input.id = id;
  const err = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const parts = [h("label", { for: id }, label), input];
  if (hint) parts.push(h("p", { class: "hint", id: `${id}-hint` }, hint));
  parts.push(err);
  input.setAttribute(
    "aria-describedby",
    [hint && `${id}-hint`, `${id}-error`].filter(Boolean).join(" "),
  );
  return h("div", { class: "field" }, parts);
}

/** A page's filter form: a GET form on `path`, its fields, then Filter and Clear. */
export function filterForm(path, label, ...fields) {
  return h(
    "form",
    { class: "filters", method: "get", action: path, role: "search", "aria-label": label },
    ...fields,
    h(
      "div",
      { class: "actions" },
      h("button", { class: "btn btn-primary", type: "submit" }, "Filter"),
      h("a", { class: "btn", href: path }, "Clear"),
    ),
  );
}

/** A filter's drop-down: `options` as [value, label] pairs, `current` selected. */
export const filterSelect = (name, options, current) =>
  h(
    "select",
    { name },
    options.map(([v, label]) => h("option", { value: v, selected: v === current }, label)),
  );

/** A filter's text box, filled from the page's query `q`. */
export const filterText = (q, name, placeholder) =>
  h("input", { name, value: q.get(name) ?? "", placeholder, autocomplete: "off" });

/** Shows (or clears, with no message) the error of a field made by field(). */
export function fieldError(id, message) {
  const input = document.getElementById(id);
  const err = document.getElementById(`${id}-error`);
  if (!input || !err) return false;
  err.hidden = !message;
  put(err, message ?? "");
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

/** Clears every field error inside `root`. */
export function clearErrors(root) {
  for (const el of root.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.replaceChildren();
  }
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** A card with a heading. */
export const card = (title, ...body) =>
  h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...body);

/** A table: columns [{label, cell(row) → node|text}], with labels repeated for phone layout. */
export function table(columns, rows, { empty = "Nothing here yet.", caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data" },
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", { scope: "col" }, c.label)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h(
            "tr",
            {},
            columns.map((c) =>
              h("td", { "data-label": c.label, class: c.class }, c.cell(r) ?? "—"),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Pretty JSON, as text. */
export const jsonBlock = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog(title, message, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": "dlg-title" });
    const done = (ok) => {
      dlg.close();
      dlg.remove();
      resolve(ok);
    };
    put(
      dlg,
      h("h2", { id: "dlg-title" }, title),
      h("p", {}, message),
      h(
        "div",
        { class: "actions" },
        h("button", { class: "btn", type: "button", onclick: () => done(false) }, "Cancel"),
        h(
          "button",
          { class: "btn btn-primary", type: "button", onclick: () => done(true) },
          confirmLabel,
        ),
      ),
    );
    dlg.addEventListener("cancel", () => done(false));
    document.body.append(dlg);
    dlg.showModal();
  });
}
