// A test fixture speaking the Upstash Redis REST protocol in front of a real redis-server:
// POST / (one command), POST /pipeline and POST /multi-exec (arrays of commands), bearer token.
// Replies {"result": …} or {"error": "…"}; 401 on a bad token; 500 when Redis is unreachable.
import http from "node:http";
import { RespClient } from "./resp.mjs";
import { freePort } from "./ports.mjs";

const asReply = (v) => (v && typeof v === "object" && !Array.isArray(v) && "error" in v ? { error: v.error } : { result: v });

export async function startUpstash({ redisPort, token = "upstash-test-token" }) {
  const client = new RespClient(redisPort);
  const stats = { requests: 0, failures: 0 };
  const server = http.createServer(async (req, res) => {
    stats.requests++;
    const send = (status, body) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: "Unauthorized" });
    if (req.method !== "POST") return send(405, { error: "Method not allowed" });
    let raw = "";
    for await (const chunk of req) raw += chunk;
    let cmds;
    try {
      cmds = JSON.parse(raw);
    } catch {
      return send(400, { error: "ERR failed to parse command" });
    }
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
  const port = await freePort();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    stats,
    /** Runs commands directly (for assertions). */
    redis: (commands) => client.send(commands),
    async stop() {
      client.close();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}
