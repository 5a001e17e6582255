// A real redis-server on a free loopback port, started and stopped by its process id.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, waitForPort } from "./ports.mjs";

export class RedisServer {
  constructor(port) {
    this.port = port;
    this.proc = null;
    // An append-only file in a private folder: data survives a stop/start, like a managed Redis
    // through an outage.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "facteur-redis-"));
  }

  /** Starts redis-server (again, on the same port after `stop`). */
  async start() {
    this.proc = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        this.dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    const proc = this.proc;
    // A spawn that fails (no redis-server on PATH) emits "error" and maybe no "exit".
    this.exited = new Promise((resolve) => {
      proc.once("exit", resolve);
      proc.once("error", resolve);
    });
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

  /** Stops the server and removes its data folder. */
  async destroy() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  get running() {
    return this.proc !== null;
  }
}

/** Starts a redis-server on a free port. */
export async function startRedis() {
  return new RedisServer(await freePort()).start();
}
