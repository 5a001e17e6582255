#!/usr/bin/env bash
# Installs whatever is missing to build and run the workers (idempotent).
#   scripts/setup.sh          toolchain + npm packages
#   scripts/setup.sh --test   the same, plus what the tests start (redis-server, chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

say() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null | awk '{print $2}')" != "0.8.7" ]; then
  say "installing worker-build 0.8.7 (about 3 minutes)"
  cargo install worker-build --version 0.8.7
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly. (`--locked` fails
# against some registry mirrors, so it is not used.)
want_wbg=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want_wbg" ]; then
  say "installing wasm-bindgen-cli $want_wbg (about 2 minutes)"
  cargo install wasm-bindgen-cli --version "$want_wbg"
fi

if [ ! -d node_modules ] || [ package.json -nt node_modules/.install-stamp ] || [ package-lock.json -nt node_modules/.install-stamp ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund
  touch node_modules/.install-stamp
fi
. scripts/env.sh
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  echo "[setup] Node >= 22 is needed (wrangler, miniflare) and none was found; install Node 22." >&2
  exit 1
fi

if [ "${1:-}" = "--test" ] && ! command -v redis-server >/dev/null 2>&1; then
  say "installing redis-server (the tests start their own on free ports)"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install redis
  else
    echo "[setup] please install redis-server" >&2; exit 1
  fi
fi
# The console's browser tests drive a real headless Chromium (Debian's package) through
# playwright-core; `npx playwright install` cannot download browsers on every machine.
if [ "${1:-}" = "--test" ] && [ -z "${CHROMIUM_BIN:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium (the console's browser tests)"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install --cask chromium
  else
    echo "[setup] please install chromium, or set CHROMIUM_BIN to a Chromium or Chrome binary" >&2; exit 1
  fi
fi
say "ready"
