#!/usr/bin/env bash
# Runs Facteur locally on its embedded defaults: wrangler dev with local KV, Queues, R2 and
# Durable Objects (state under .wrangler/state), both workers in one session. No account, no
# Redis. The ingest listens on http://127.0.0.1:${PORT:-8787}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
[ -f .dev.vars ] || { cp .dev.vars.example .dev.vars; echo "[dev] created .dev.vars from .dev.vars.example"; }
[ -f r2-fetch/.dev.vars ] || cp r2-fetch/.dev.vars.example r2-fetch/.dev.vars
bash scripts/build.sh .
bash scripts/build.sh r2-fetch
exec npx wrangler dev -c wrangler.toml -c r2-fetch/wrangler.toml --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
