// A real redis-server on a free loopback port, started and stopped by its process id.
import { spawn } from "node:child_process";
import { freePort, waitForPort } from "./ports.mjs";

export class RedisServer {
  constructor(port) {
    this.port = port;
    this.proc = null;
  }

  /** Starts redis-server (again, on the same port after `stop`). */
  async start() {
    this.proc = spawn("redis-server", [
      "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--protected-mode", "yes", "--loglevel", "warning",
    ], { stdio: ["ignore", "ignore", "inherit"] });
    const proc = this.proc;
    this.exited = new Promise((resolve) => proc.once("exit", resolve));
    await waitForPort(this.port);
    return this;
  }

  /** Stops the server (SIGTERM to its pid) and waits for it to exit. */
  async stop() {
    if (!this.proc) return;
    const proc = this.proc;
    this.proc = null;
    if (proc.exitCode === null) proc.kill("SIGTERM");
    await this.exited;
  }

  get running() {
    return this.proc !== null;
  }
}

/** Starts a redis-server on a free port. */
export async function startRedis() {
  return new RedisServer(await freePort()).start();
}
