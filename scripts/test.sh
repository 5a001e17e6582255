#!/usr/bin/env bash
# Every check and test. Installs what is missing first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
. scripts/env.sh
step() { printf '\n=== %s\n' "$*"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "prettier --check (console, tests, scripts, bench)"
npx --no-install prettier --check .
step "layers (scripts/check-layers.sh)"
bash scripts/check-layers.sh
step "cargo clippy (host, every crate, all targets)"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo clippy (wasm32)"
cargo clippy --target wasm32-unknown-unknown -p facteur -p r2-fetch -- -D warnings
step "host tests (pure core)"
cargo test --workspace
step "build both workers"
bash scripts/build.sh .
bash scripts/build.sh r2-fetch
step "bundle size guard (scripts/check-size.sh)"
bash scripts/check-size.sh
step "integration tests (workerd through Miniflare, redis-server, receivers)"
node --test --test-concurrency=1 tests/integration/*.test.mjs
