// A real HTTP receiver standing in for Make.com and custom endpoints, served on the test
// network. It records every request and answers according to a per-request plan: a status, a
// delay, a dropped connection, a Retry-After header.
import crypto from "node:crypto";

/**
 * A plan maps a request to an action:
 *   { status = 200, delayMs = 0, drop = false, retryAfter, body }
 * `drop` destroys the socket without answering.
 */
export function startReceiver(network, hosts = ["hooks.receiver.test"]) {
  const requests = [];
  let plan = () => ({});
  const handler = async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString("utf8");
    let json = null;
    try {
      json = JSON.parse(raw);
    } catch {
      /* recorded as raw text */
    }
    const record = {
      method: req.method,
      path: req.url,
      host: req.headers.host,
      headers: req.headers,
      raw,
      json,
      deliveryId: req.headers["x-facteur-delivery-id"],
      attempt: Number(req.headers["x-facteur-attempt"] || 0),
      at: Date.now(),
    };
    const action = (await plan(record)) || {};
    record.action = action;
    requests.push(record);
    if (action.delayMs) await new Promise((r) => setTimeout(r, action.delayMs));
    if (action.drop) {
      req.socket.destroy();
      return;
    }
    const headers = { "Content-Type": "application/json" };
    if (action.retryAfter !== undefined) headers["Retry-After"] = String(action.retryAfter);
    res.writeHead(action.status ?? 200, headers);
    res.end(JSON.stringify(action.body ?? { ok: true }));
  };
  for (const host of hosts) network.route(host, handler);
  return {
    requests,
    /** Sets the plan: (record) => action. */
    setPlan(fn) {
      plan = fn;
    },
    /** Requests of one path. */
    to(path) {
      return requests.filter((r) => r.path === path);
    },
    /** Successful (2xx) requests. */
    delivered() {
      return requests.filter((r) => !r.action.drop && (r.action.status ?? 200) < 300);
    },
    clear() {
      requests.length = 0;
    },
  };
}

/** A deterministic fraction: the same delivery id always gets the same draw in [0, 1). */
export function draw(id, salt = "") {
  return crypto.createHash("sha256").update(`${salt}${id}`).digest().readUInt32BE(0) / 2 ** 32;
}
