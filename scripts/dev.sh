#!/usr/bin/env bash
# Runs Facteur locally on its embedded defaults: wrangler dev with local KV, Queues, R2 and
# Durable Objects (state under .wrangler/state), both workers in one session, and a local
# webhook receiver (scripts/dev-receiver.mjs) that shows what arrives. No account, no Redis.
# The worker (ingest, API, console) listens on http://127.0.0.1:${PORT:-8787}; the receiver on
# http://127.0.0.1:${RECEIVER_PORT:-8790}. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
[ -f .dev.vars ] || { cp .dev.vars.example .dev.vars; echo "[dev] created .dev.vars from .dev.vars.example"; }
[ -f r2-fetch/.dev.vars ] || cp r2-fetch/.dev.vars.example r2-fetch/.dev.vars
if ! grep -q '^DEV_ALLOW_HTTP_LOOPBACK=true' .dev.vars; then
  echo "[dev] note: .dev.vars predates the local receiver; copy WEBHOOK_URL, DEV_ALLOW_HTTP_LOOPBACK and WEBHOOK_SIGNING_SECRET from .dev.vars.example to deliver to it"
fi
if grep -Eq '^(PROCESS_API_TOKEN|ADMIN_TOKEN)=dev-(process|admin)-token$' .dev.vars; then
  echo "[dev] note: .dev.vars has the old short example tokens, which the worker now refuses (misconfigured); copy PROCESS_API_TOKEN and ADMIN_TOKEN from .dev.vars.example"
fi
bash scripts/build.sh .
bash scripts/build.sh r2-fetch
RECEIVER_PORT="${RECEIVER_PORT:-8790}" node scripts/dev-receiver.mjs &
receiver=$!
trap 'kill "$receiver" 2>/dev/null || true' EXIT
echo "[dev] console: http://127.0.0.1:${PORT:-8787}/ (password: ADMIN_TOKEN in .dev.vars) · receiver: http://127.0.0.1:${RECEIVER_PORT:-8790}/"
npx wrangler dev -c wrangler.toml -c r2-fetch/wrangler.toml --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
