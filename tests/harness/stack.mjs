// Everything an integration test file runs against, started in one call on free loopback ports
// and stopped in one call: the test network, a receiver, optionally redis-server with the
// Upstash fixture and the r2-fetch worker with the file host, and the worker(s) in workerd.
import { startNetwork } from "./network.mjs";
import { startReceiver } from "./receiver.mjs";
import { RedisServer } from "./redis.mjs";
import { startUpstash } from "./upstash.mjs";
import { startFileHost } from "./filehost.mjs";
import { startWorker, wranglerConfig } from "./worker.mjs";
import { freePort } from "./ports.mjs";

/** The R2_FETCH_TOKEN both workers get with `r2: true` (the X-R2-FETCH-TOKEN header). */
export const R2_TOKEN = "test-r2-token";

/**
 * Starts, in this order:
 *   - the test network (network.mjs);
 *   - a receiver serving `receiverHosts` (default hooks.receiver.test), answering with `plan`;
 *   - with `redis`: a redis-server and the Upstash REST fixture in front of it, whose URL and
 *     token become the worker's UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN;
 *   - with `r2`: the file host on the provider hosts;
 *   - the main worker with `vars` (they win over what the stack sets) and, with `r2`, the
 *     r2-fetch worker with `r2Vars`, R2_FETCH_ENABLED and R2_TOKEN set on both.
 * `shared` is passed to Miniflare as is.
 *
 * Returns { network, receiver, redis, upstash, files, worker, r2Fetch, stop }: `redis`,
 * `upstash`, `files` and `r2Fetch` (the r2-fetch worker's fetcher) are null when not asked for.
 * `stop()` stops what was started, in reverse order, by server handle and process id, and
 * throws what failed only once everything was tried. When a start step fails, what was started
 * before it is stopped and the error is thrown.
 */
export async function startStack({
  vars = {},
  redis = false,
  r2 = false,
  r2Vars = {},
  receiverHosts,
  plan,
  shared,
} = {}) {
  const stops = [];
  const stop = async () => {
    const errors = [];
    while (stops.length) {
      try {
        await stops.pop()();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length)
      throw new AggregateError(errors, "several parts of the stack failed to stop");
  };
  const stack = {
    network: null,
    receiver: null,
    redis: null,
    upstash: null,
    files: null,
    worker: null,
    r2Fetch: null,
    stop,
  };
  try {
    const network = (stack.network = await startNetwork());
    stops.push(() => network.stop());
    stack.receiver = startReceiver(network, receiverHosts);
    if (plan) stack.receiver.setPlan(plan);
    const stackVars = {};
    if (redis) {
      // Registered before it starts, so that a redis-server that never opens its port is stopped too.
      const server = (stack.redis = new RedisServer(await freePort()));
      stops.push(() => server.destroy());
      await server.start();
      const upstash = (stack.upstash = startUpstash({ network, redisPort: server.port }));
      stops.push(() => upstash.stop());
      Object.assign(stackVars, {
        UPSTASH_REDIS_REST_URL: upstash.url,
        UPSTASH_REDIS_REST_TOKEN: upstash.token,
      });
    }
    if (r2) {
      stack.files = startFileHost(network);
      Object.assign(stackVars, { R2_FETCH_ENABLED: "true", R2_FETCH_TOKEN: R2_TOKEN });
    }
    const worker = (stack.worker = await startWorker({
      network,
      vars: { ...stackVars, ...vars },
      withR2Fetch: Boolean(r2),
      r2Vars: { R2_FETCH_TOKEN: R2_TOKEN, ...r2Vars },
      shared,
    }));
    stops.push(() => worker.stop());
    if (r2) stack.r2Fetch = await worker.mf.getWorker(wranglerConfig("r2-fetch").name);
    return stack;
  } catch (e) {
    try {
      await stop();
    } catch (stopError) {
      throw new AggregateError(
        [e, stopError],
        `the stack failed to start (${e.message}), then to stop`,
      );
    }
    throw e;
  }
}
