// The test network: one HTTP server on a free loopback port that receives every outbound
// request of the workers (Miniflare's `outboundService: { external }`, so workerd opens a real
// TCP connection) and hands it to the fixture registered for its Host. A fixture that destroys
// the socket gives the worker a real network error.
import http from "node:http";
import { freePort } from "./ports.mjs";

export async function startNetwork() {
  const routes = new Map();
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
    const handler = routes.get(host);
    if (!handler) {
      res.writeHead(502, { "Content-Type": "text/plain" });
      res.end(`no test host ${host}`);
      return;
    }
    Promise.resolve(handler(req, res)).catch((e) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });
  server.keepAliveTimeout = 1000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return {
    port,
    /** Serves `host` with `handler(req, res)`. */
    route(host, handler) {
      routes.set(host.toLowerCase(), handler);
    },
    /** Miniflare `outboundService` that sends everything here. */
    outbound() {
      return { external: { address: `127.0.0.1:${port}`, http: {} } };
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
