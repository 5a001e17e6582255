// A minimal RESP2 client over one TCP connection: enough for the Upstash REST fixture.
import net from "node:net";

class ReplyParser {
  constructor() {
    this.buf = Buffer.alloc(0);
  }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
  }
  /** Returns [value, rest] or undefined when incomplete. Errors are `{error}` objects. */
  next() {
    const r = this.parse(0);
    if (!r) return undefined;
    this.buf = this.buf.subarray(r[1]);
    return { value: r[0] };
  }
  line(at) {
    const end = this.buf.indexOf("\r\n", at);
    return end < 0 ? null : [this.buf.toString("utf8", at + 1, end), end + 2];
  }
  parse(at) {
    if (at >= this.buf.length) return null;
    const type = String.fromCharCode(this.buf[at]);
    const l = this.line(at);
    if (!l) return null;
    const [text, after] = l;
    switch (type) {
      case "+":
        return [text, after];
      case "-":
        return [{ error: text }, after];
      case ":":
        return [Number(text), after];
      case "$": {
        const len = Number(text);
        if (len < 0) return [null, after];
        if (this.buf.length < after + len + 2) return null;
        return [this.buf.toString("utf8", after, after + len), after + len + 2];
      }
      case "*": {
        const n = Number(text);
        if (n < 0) return [null, after];
        const items = [];
        let pos = after;
        for (let i = 0; i < n; i++) {
          const r = this.parse(pos);
          if (!r) return null;
          items.push(r[0]);
          pos = r[1];
        }
        return [items, pos];
      }
      default:
        throw new Error(`bad RESP type ${type}`);
    }
  }
}

function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = typeof a === "string" ? a : String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return parts.join("");
}

export class RespClient {
  constructor(port) {
    this.port = port;
    this.sock = null;
    this.pending = [];
    this.parser = new ReplyParser();
  }

  connect() {
    if (this.sock) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.port, "127.0.0.1");
      sock.once("connect", () => {
        this.sock = sock;
        resolve();
      });
      sock.once("error", (e) => {
        if (!this.sock) reject(e);
      });
      sock.on("data", (chunk) => {
        this.parser.push(chunk);
        let r;
        while ((r = this.parser.next())) this.pending.shift()?.resolve(r.value);
      });
      sock.on("close", () => {
        this.sock = null;
        this.parser = new ReplyParser();
        for (const p of this.pending.splice(0)) p.reject(new Error("redis connection closed"));
      });
      sock.on("error", () => {});
    });
  }

  /** Sends commands in one write; resolves with their replies in order. */
  async send(commands) {
    await this.connect();
    const replies = commands.map(
      () => new Promise((resolve, reject) => this.pending.push({ resolve, reject })),
    );
    this.sock.write(commands.map(encode).join(""));
    return Promise.all(replies);
  }

  close() {
    this.sock?.destroy();
  }
}
