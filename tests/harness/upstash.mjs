// A test fixture speaking the Upstash Redis REST protocol in front of a real redis-server:
// POST / (one command), POST /pipeline and POST /multi-exec (arrays of commands), bearer token.
// Replies {"result": …} or {"error": "…"}; 401 on a bad token; 500 when Redis is unreachable.
import { RespClient } from "./resp.mjs";

const asReply = (v) =>
  v && typeof v === "object" && !Array.isArray(v) && "error" in v
    ? { error: v.error }
    : { result: v };

export function startUpstash({
  network,
  redisPort,
  token = "upstash-test-token",
  host = "upstash.test",
}) {
  const client = new RespClient(redisPort);
  const stats = { requests: 0, failures: 0, pings: 0 };
  network.route(host, async (req, res) => {
    stats.requests++;
    const send = (status, body) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`)
      return send(401, { error: "Unauthorized" });
    if (req.method !== "POST") return send(405, { error: "Method not allowed" });
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString("utf8");
    let cmds;
    try {
      cmds = JSON.parse(raw);
    } catch {
      return send(400, { error: "ERR failed to parse command" });
    }
    if (Array.isArray(cmds) && String(cmds[0]).toUpperCase() === "PING") stats.pings++;
    try {
      if (req.url === "/" || req.url === "") {
        const [reply] = await client.send([cmds]);
        return send(reply && reply.error ? 400 : 200, asReply(reply));
      }
      if (req.url === "/pipeline") {
        const replies = await client.send(cmds);
        return send(200, replies.map(asReply));
      }
      if (req.url === "/multi-exec") {
        const replies = await client.send([["MULTI"], ...cmds, ["EXEC"]]);
        const exec = replies[replies.length - 1];
        if (!Array.isArray(exec)) return send(400, { error: "ERR transaction aborted" });
        return send(200, exec.map(asReply));
      }
      return send(404, { error: "Not found" });
    } catch (e) {
      stats.failures++;
      return send(500, { error: `redis unavailable: ${e.message}` });
    }
  });
  return {
    url: `https://${host}`,
    token,
    stats,
    /** Runs commands directly (for assertions). */
    redis: (commands) => client.send(commands),
    stop() {
      client.close();
    },
  };
}
