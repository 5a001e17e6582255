// The console's shell: marks the current page in the menu, wires "send a test e-mail" and
// "sign out", and loads the module of the page the path names.
import { api, emailLink, h, notify, put, when } from "./dom.js";

const pages = {
  "/": "overview",
  "/deliveries": "deliveries",
  "/dead-letters": "dead-letters",
  "/targets": "targets",
  "/gmail": "gmail",
  "/settings": "settings",
  "/rules": "rules",
  "/audit": "audit",
};

const path = location.pathname.replace(/\/$/, "") || "/";
const emailId = /^\/emails\/([0-9a-f]{32})$/i.exec(path)?.[1];
const page = emailId ? "email" : pages[path];
const section = emailId ? "/deliveries" : path;

for (const a of document.querySelectorAll(".top nav a")) {
  if (a.getAttribute("href") !== section) continue;
  a.setAttribute("aria-current", "page");
  // On a phone the menu scrolls sideways: the current page's entry is brought into view.
  a.scrollIntoView({ block: "nearest", inline: "nearest" });
}

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api("/api/session", { method: "DELETE" });
  } finally {
    location.assign("/login");
  }
});

document.getElementById("test-email").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const r = await api("/api/test/email", { method: "POST" });
    notify(
      `Test e-mail ${r.status === "queued" ? "queued" : r.status}. `,
      "ok",
      emailLink(r.email_id, "Follow it"),
    );
  } catch (e) {
    notify(`Test e-mail not sent: ${e.message}`, "error");
  } finally {
    button.disabled = false;
  }
});

/** The banner every page shows while the Gmail mailbox must be reconnected. */
async function gmailBanner() {
  let g;
  try {
    g = await api("/api/gmail");
  } catch {
    return;
  }
  if (!g.reconnect_needed || page === "gmail") return;
  const button = h(
    "button",
    { type: "button", class: "btn btn-small btn-primary" },
    "Reconnect Gmail",
  );
  button.addEventListener("click", async () => {
    const { connectGmail } = await import("./gmail.js");
    connectGmail(button);
  });
  put(
    document.getElementById("banner"),
    h(
      "div",
      { class: "notice notice-error", role: "alert", id: "gmail-banner" },
      h("strong", {}, "Reconnect Gmail: "),
      "its refresh token stopped working, so the push takes nothing; the Apps Script keeps delivering meanwhile. ",
      button,
    ),
  );
}

const main = document.getElementById("main");
(async () => {
  if (!page) {
    put(
      main,
      h("h1", {}, "Not found"),
      h("p", {}, "This page does not exist. "),
      h("a", { href: "/" }, "Back to the overview"),
    );
    return;
  }
  try {
    const mod = await import(`./${page}.js`);
    await mod.render(main, { emailId });
  } catch (e) {
    if (e.status === 401) return;
    put(
      main,
      h(
        "div",
        { class: "notice notice-error", role: "alert" },
        `This page could not be loaded: ${e.message}`,
      ),
    );
  }
  gmailBanner();
  api("/api/session")
    .then((s) => {
      const parts = [
        `Facteur ${s.version}`,
        s.via === "session"
          ? `signed in until ${when(s.expires_at)} (session ${s.session}, from ${s.client})`
          : "signed in with the admin token",
      ];
      if (s.local_development) parts.push("local development (DEV_ALLOW_HTTP_LOOPBACK)");
      put(document.getElementById("foot"), parts.join(" · "));
    })
    .catch(() => {});
})();
