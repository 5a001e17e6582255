// A fake of the Google services Gmail push talks to, served on the test network (network.mjs):
//   accounts.google.com     the consent page: a redirect back with a code (as after "Allow")
//   oauth2.googleapis.com   the token endpoint (code exchange with PKCE S256, refresh), revoke
//   www.googleapis.com      Google's signing keys (JWKS) at /oauth2/v3/certs
//   gmail.googleapis.com    profile, labels, watch, stop, history.list, messages.list/get
// and a Pub/Sub pusher that signs real RS256 OIDC tokens with node:crypto.
//
// The mailbox keeps messages (RFC 822 text) with their labels and a history of "messageAdded"
// records, as Gmail does; tests deliver messages, delete them, make the history lag or forget
// old records (a 404 cursor), revoke the refresh tokens, and read every call made.
import crypto from "node:crypto";

export const GMAIL_AUDIENCE = "https://facteur.test/api/gmail/push";
export const GMAIL_PUSH_SA = "gmail-push@facteur-test.iam.gserviceaccount.com";
export const GMAIL_CLIENT_ID = "facteur-test.apps.googleusercontent.com";
export const GMAIL_CLIENT_SECRET = "GOCSPX-test-client-secret";

/** The worker's variables for Gmail push against this fake. */
export const GMAIL_VARS = {
  GMAIL_CLIENT_ID,
  GMAIL_CLIENT_SECRET,
  GMAIL_TOKEN_KEY: "test-gmail-token-key-0123456789-abcdef",
  GMAIL_PUBSUB_TOPIC: "projects/facteur-test/topics/gmail",
  GMAIL_LABEL: "facteur/to-push",
  GMAIL_PUSH_AUDIENCE: GMAIL_AUDIENCE,
  GMAIL_PUSH_SERVICE_ACCOUNT: GMAIL_PUSH_SA,
};

const SCOPE = "https://www.googleapis.com/auth/gmail.readonly";
const b64url = (buf) => Buffer.from(buf).toString("base64url");
const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(body === undefined ? "" : JSON.stringify(body));
};
const readBody = async (req) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
};

function newKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = crypto.randomBytes(20).toString("hex");
  return {
    privateKey,
    kid,
    jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" },
  };
}

/**
 * Encodes a header value as RFC 2047 when it is not ASCII (`=?UTF-8?B?…?=`); an address part
 * `<a@b.c>` stays as it is.
 */
export function encodeWord(text) {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const m = /^(.*?)(\s*<[^>]+>)$/.exec(text);
  const [name, addr] = m ? [m[1], m[2]] : [text, ""];
  return `=?UTF-8?B?${Buffer.from(name, "utf8").toString("base64")}?=${addr}`;
}

/**
 * An RFC 822 message (CRLF). `html` and/or `text` bodies; `charset` and `encoding`
 * (`quoted-printable`, `base64`, `8bit`) for the parts; `raw` to give the whole text instead.
 */
export function rfc822({
  from = "Jane Doe <jane@example.com>",
  subject = "Hello",
  html,
  text,
  charset = "UTF-8",
  encoding = "base64",
  extraHeaders = [],
} = {}) {
  const enc = (s) => {
    const bytes =
      charset.toUpperCase() === "UTF-8" ? Buffer.from(s, "utf8") : Buffer.from(s, "latin1");
    if (encoding === "base64") return bytes.toString("base64").replace(/.{76}/g, "$&\r\n");
    if (encoding === "quoted-printable")
      return [...bytes]
        .map((b) =>
          (b >= 33 && b <= 126 && b !== 61) || b === 32
            ? String.fromCharCode(b)
            : `=${b.toString(16).toUpperCase().padStart(2, "0")}`,
        )
        .join("")
        .replace(/.{72}/g, "$&=\r\n");
    return bytes.toString("latin1");
  };
  const part = (type, body) =>
    `Content-Type: ${type}; charset=${charset}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${enc(body)}`;
  const head = [
    `From: ${encodeWord(from)}`,
    `To: me@example.com`,
    `Subject: ${encodeWord(subject)}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${crypto.randomUUID()}@example.com>`,
    "MIME-Version: 1.0",
    ...extraHeaders,
  ];
  if (html !== undefined && text !== undefined) {
    const b = `b-${crypto.randomUUID()}`;
    return `${head.join("\r\n")}\r\nContent-Type: multipart/alternative; boundary="${b}"\r\n\r\n--${b}\r\n${part("text/plain", text)}\r\n--${b}\r\n${part("text/html", html)}\r\n--${b}--\r\n`;
  }
  const [type, body] = html !== undefined ? ["text/html", html] : ["text/plain", text ?? ""];
  return `${head.join("\r\n")}\r\n${part(type, body)}`;
}

/**
 * Starts the fake on `network`. Returns the fake: `deliver`, `remove`, `lagHistory`,
 * `forgetHistory`, `revoke`, `authorize`, `pushNotification`, `signToken`, `calls`, …
 */
export function startGoogle(
  network,
  { email = "me@example.com", label = "facteur/to-push", labelId = "Label_7" } = {},
) {
  let key = newKey();
  const keys = [key];
  const state = {
    historyId: 1000,
    oldestHistoryId: 1,
    messages: new Map(),
    history: [],
    lag: 0,
    codes: new Map(),
    refreshTokens: new Map(),
    accessTokens: new Map(),
    watchLifetimeMs: 7 * 86_400_000,
    watchStatus: 200,
    grantRefreshToken: true,
    faults: [],
  };
  const calls = [];
  const inflight = new Map();
  const maxInflight = new Map();

  const api = {
    email,
    labelId,
    calls,
    state,
    /** The most calls of one kind (`history.list`…) that were ever in progress at once. */
    maxConcurrent: (kind) => maxInflight.get(kind) ?? 0,
    /** Calls of one kind. */
    count: (kind) => calls.filter((c) => c.kind === kind).length,

    /**
     * Puts a message in the mailbox (with the label unless `labelIds` says otherwise) and
     * records its history. Returns { id, historyId, internalDate }.
     */
    deliver(raw, { labelIds = [labelId, "INBOX"], internalDate = Date.now(), full } = {}) {
      const id = crypto.randomBytes(8).toString("hex");
      state.historyId += 1 + Math.floor(Math.random() * 3);
      state.messages.set(id, { id, raw, labelIds, internalDate, full });
      state.history.push({
        id: state.historyId,
        messagesAdded: [{ message: { id, threadId: id, labelIds } }],
      });
      return { id, historyId: state.historyId, internalDate };
    },
    /** Deletes a message (messages.get answers 404 from now on). */
    remove(id) {
      state.messages.delete(id);
      state.historyId += 1;
    },
    /** The next `n` history.list calls answer no records (Gmail lagging a notification). */
    lagHistory(n = 1) {
      state.lag = n;
    },
    /** History before now is forgotten: a cursor older answers 404. */
    forgetHistory() {
      state.oldestHistoryId = state.historyId + 1;
    },
    /** Every refresh token stops working (`invalid_grant`), and the access tokens with them. */
    revoke() {
      for (const t of state.refreshTokens.keys()) state.refreshTokens.set(t, false);
      state.accessTokens.clear();
    },
    /** The next `times` calls of `kind` answer `status` (with `retryAfter` seconds). */
    fail(kind, status, times = 1, retryAfter) {
      state.faults.push({ kind, status, times, retryAfter });
    },
    /** A new signing key (the old one stays published): tokens are signed with it. */
    rotateKey() {
      key = newKey();
      keys.push(key);
      return key;
    },
    /**
     * The consent page: Google's redirect back to the app with a code, as after "Allow".
     * Returns the callback URL.
     */
    authorize(authorizationUrl, { deny = false } = {}) {
      const u = new URL(authorizationUrl);
      const p = u.searchParams;
      const back = new URL(p.get("redirect_uri"));
      if (p.get("client_id") !== GMAIL_CLIENT_ID) throw new Error("unknown client_id");
      if (p.get("code_challenge_method") !== "S256") throw new Error("PKCE S256 expected");
      if (p.get("scope") !== SCOPE) throw new Error(`scope ${p.get("scope")}`);
      if (deny) {
        back.searchParams.set("error", "access_denied");
      } else {
        const code = `4/${crypto.randomBytes(12).toString("hex")}`;
        state.codes.set(code, {
          challenge: p.get("code_challenge"),
          redirectUri: p.get("redirect_uri"),
          used: false,
        });
        back.searchParams.set("code", code);
      }
      back.searchParams.set("state", p.get("state"));
      return back.toString();
    },
    /** A Pub/Sub OIDC token (RS256), claims overridable; `key`/`kid` to forge. */
    signToken({ claims = {}, header = {}, signWith } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const h = { alg: "RS256", kid: key.kid, typ: "JWT", ...header };
      const c = {
        aud: GMAIL_AUDIENCE,
        azp: "1234567890",
        email: GMAIL_PUSH_SA,
        email_verified: true,
        exp: now + 3600,
        iat: now,
        iss: "https://accounts.google.com",
        sub: "1234567890",
        ...claims,
      };
      const input = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(c))}`;
      const signature = crypto.sign("RSA-SHA256", Buffer.from(input), (signWith ?? key).privateKey);
      return `${input}.${b64url(signature)}`;
    },
    /** The push body Pub/Sub sends for a notification. */
    envelope({ historyId = state.historyId, emailAddress = email } = {}) {
      const messageId = String(crypto.randomInt(1e12));
      return {
        message: {
          data: Buffer.from(JSON.stringify({ emailAddress, historyId })).toString("base64"),
          messageId,
          message_id: messageId,
          publishTime: new Date().toISOString(),
          publish_time: new Date().toISOString(),
        },
        subscription: "projects/facteur-test/subscriptions/facteur-push",
      };
    },
    /** Pushes a notification to the worker as Pub/Sub does (a signed token, the envelope). */
    pushNotification(worker, { historyId, emailAddress, token, body } = {}) {
      return worker.api("/api/gmail/push", {
        method: "POST",
        body: body ?? api.envelope({ historyId, emailAddress }),
        auth: `Bearer ${token ?? api.signToken()}`,
      });
    },
    newKey,
  };

  const fault = (kind) => {
    const f = state.faults.find((x) => x.kind === kind && x.times > 0);
    if (!f) return null;
    f.times -= 1;
    return f;
  };
  const record = (kind, req, url) => {
    calls.push({ kind, method: req.method, path: url.pathname, query: url.search, at: Date.now() });
  };
  const issueAccess = () => {
    const t = `ya29.${crypto.randomBytes(16).toString("hex")}`;
    state.accessTokens.set(t, true);
    return t;
  };

  network.route("accounts.google.com", (req, res) => {
    const url = new URL(req.url, "https://accounts.google.com");
    record("consent", req, url);
    res.writeHead(302, { Location: api.authorize(url.toString()) });
    res.end();
  });

  network.route("oauth2.googleapis.com", async (req, res) => {
    const url = new URL(req.url, "https://oauth2.googleapis.com");
    const form = new URLSearchParams(await readBody(req));
    if (url.pathname === "/revoke") {
      record("revoke", req, url);
      if (state.refreshTokens.has(form.get("token")))
        state.refreshTokens.set(form.get("token"), false);
      return json(res, 200, {});
    }
    record(`token:${form.get("grant_type")}`, req, url);
    const f = fault("token");
    if (f) return json(res, f.status, { error: "backend_error" });
    if (
      form.get("client_id") !== GMAIL_CLIENT_ID ||
      form.get("client_secret") !== GMAIL_CLIENT_SECRET
    )
      return json(res, 401, {
        error: "invalid_client",
        error_description: "The OAuth client was not found.",
      });
    const invalidGrant = () =>
      json(res, 400, {
        error: "invalid_grant",
        error_description: "Token has been expired or revoked.",
      });
    if (form.get("grant_type") === "authorization_code") {
      const code = state.codes.get(form.get("code"));
      if (!code || code.used || code.redirectUri !== form.get("redirect_uri"))
        return invalidGrant();
      const challenge = b64url(
        crypto
          .createHash("sha256")
          .update(form.get("code_verifier") ?? "")
          .digest(),
      );
      if (challenge !== code.challenge) return invalidGrant();
      code.used = true;
      const refresh = `1//${crypto.randomBytes(16).toString("hex")}`;
      state.refreshTokens.set(refresh, true);
      const body = {
        access_token: issueAccess(),
        expires_in: 3599,
        scope: SCOPE,
        token_type: "Bearer",
      };
      if (state.grantRefreshToken) body.refresh_token = refresh;
      return json(res, 200, body);
    }
    if (form.get("grant_type") === "refresh_token") {
      if (!state.refreshTokens.get(form.get("refresh_token"))) return invalidGrant();
      return json(res, 200, {
        access_token: issueAccess(),
        expires_in: 3599,
        scope: SCOPE,
        token_type: "Bearer",
      });
    }
    return json(res, 400, { error: "unsupported_grant_type" });
  });

  network.route("www.googleapis.com", (req, res) => {
    const url = new URL(req.url, "https://www.googleapis.com");
    record("certs", req, url);
    if (url.pathname !== "/oauth2/v3/certs") return json(res, 404, {});
    json(
      res,
      200,
      { keys: keys.map((k) => k.jwk) },
      { "Cache-Control": "public, max-age=21600, must-revalidate, no-transform" },
    );
  });

  network.route("gmail.googleapis.com", async (req, res) => {
    const url = new URL(req.url, "https://gmail.googleapis.com");
    const path = url.pathname.replace("/gmail/v1/users/me", "");
    const q = url.searchParams;
    const kind =
      path === "/history"
        ? "history.list"
        : path === "/messages"
          ? "messages.list"
          : path.startsWith("/messages/")
            ? `messages.get:${q.get("format")}`
            : path.slice(1);
    record(kind, req, url);
    inflight.set(kind, (inflight.get(kind) ?? 0) + 1);
    maxInflight.set(kind, Math.max(maxInflight.get(kind) ?? 0, inflight.get(kind)));
    try {
      const body = req.method === "POST" ? await readBody(req) : "";
      const auth = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      if (!state.accessTokens.get(auth))
        return json(res, 401, {
          error: {
            code: 401,
            message: "Request had invalid authentication credentials.",
            status: "UNAUTHENTICATED",
          },
        });
      const f = fault(kind);
      if (f)
        return json(
          res,
          f.status,
          { error: { code: f.status, message: "fault" } },
          f.retryAfter ? { "Retry-After": String(f.retryAfter) } : {},
        );
      if (path === "/profile")
        return json(res, 200, {
          emailAddress: email,
          messagesTotal: state.messages.size,
          threadsTotal: state.messages.size,
          historyId: String(state.historyId),
        });
      if (path === "/labels")
        return json(res, 200, {
          labels: [
            { id: "INBOX", name: "INBOX", type: "system" },
            { id: "Label_1", name: "Other", type: "user" },
            { id: labelId, name: label, type: "user" },
          ],
        });
      if (path === "/watch") {
        const w = JSON.parse(body);
        if (state.watchStatus !== 200)
          return json(res, state.watchStatus, { error: { code: state.watchStatus } });
        const shaped =
          w.labelIds?.includes(labelId) &&
          ["INCLUDE", "EXCLUDE"].includes(w.labelFilterBehavior) &&
          /^projects\/[^/]+\/topics\/[^/]+$/.test(w.topicName);
        if (!shaped) return json(res, 400, { error: { code: 400, message: "bad watch" } });
        return json(res, 200, {
          historyId: String(state.historyId),
          expiration: String(Date.now() + state.watchLifetimeMs),
        });
      }
      if (path === "/stop") {
        res.writeHead(204);
        return res.end();
      }
      if (path === "/history") {
        const start = Number(q.get("startHistoryId"));
        if (!(start >= state.oldestHistoryId))
          return json(res, 404, {
            error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" },
          });
        if (q.get("historyTypes") !== "messageAdded")
          return json(res, 400, { error: { code: 400 } });
        let records = state.history.filter(
          (r) =>
            r.id > start &&
            r.messagesAdded.some((a) => a.message.labelIds.includes(q.get("labelId"))),
        );
        if (state.lag > 0) {
          state.lag -= 1;
          records = [];
        }
        const from = Number(q.get("pageToken") ?? 0);
        const size = Number(q.get("maxResults") ?? 100);
        const page = records.slice(from, from + size);
        const out = { historyId: String(state.historyId) };
        if (page.length)
          out.history = page.map((r) => ({
            id: String(r.id),
            messages: r.messagesAdded.map((a) => a.message),
            messagesAdded: r.messagesAdded,
          }));
        if (from + size < records.length) out.nextPageToken = String(from + size);
        return json(res, 200, out);
      }
      if (path === "/messages") {
        const after = Number(/after:(\d+)/.exec(q.get("q") ?? "")?.[1] ?? 0);
        const list = [...state.messages.values()]
          .filter((m) => m.labelIds.includes(q.get("labelIds")) && m.internalDate / 1000 > after)
          .sort((a, b) => b.internalDate - a.internalDate)
          .slice(0, Number(q.get("maxResults") ?? 100));
        return json(res, 200, {
          messages: list.map((m) => ({ id: m.id, threadId: m.id })),
          resultSizeEstimate: list.length,
        });
      }
      if (path.startsWith("/messages/")) {
        const m = state.messages.get(decodeURIComponent(path.slice("/messages/".length)));
        if (!m)
          return json(res, 404, {
            error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" },
          });
        const base = {
          id: m.id,
          threadId: m.id,
          labelIds: m.labelIds,
          snippet: "",
          historyId: String(state.historyId),
          internalDate: String(m.internalDate),
          sizeEstimate: Buffer.byteLength(m.raw),
        };
        if (q.get("format") === "raw")
          return json(res, 200, {
            ...base,
            raw: Buffer.from(m.raw, "latin1").toString("base64url"),
          });
        if (q.get("format") === "full" && m.full)
          return json(res, 200, { ...base, payload: m.full });
        return json(res, 400, {
          error: { code: 400, message: `format ${q.get("format")} not served by the fake` },
        });
      }
      return json(res, 404, { error: { code: 404 } });
    } finally {
      inflight.set(kind, inflight.get(kind) - 1);
    }
  });

  return api;
}

/**
 * Connects the fake mailbox through the worker's OAuth flow (with the admin token, as a script
 * would: no console session): POST /api/gmail/connect, the consent page, the callback with the
 * browser-binding cookie. Returns the callback's answer.
 */
export async function connectGmail(worker, google) {
  const start = await worker.api("/api/gmail/connect", { method: "POST" });
  if (start.status !== 200) throw new Error(`connect answered ${start.status} ${start.text}`);
  const cookie = start.headers.get("set-cookie").split(";")[0];
  const back = new URL(google.authorize(start.json.authorization_url));
  return worker.api(back.pathname + back.search, { auth: null, headers: { Cookie: cookie } });
}
