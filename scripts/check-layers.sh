#!/usr/bin/env bash
# Fails when an import goes against the layers (README: Layout):
#   src/app.rs → src/handlers/* → src/context.rs → src/adapters/* → facteur_core
#   - facteur-core and facteur-zone have no `worker` dependency, so the compiler refuses any use
#     of the runtime or of the glue in the core; checked here only so nobody adds it back;
#   - a handler never imports another handler or the app;
#   - the context and the adapters never import a handler or the app; an adapter takes the
#     bindings it needs, not the whole context;
#   - r2-fetch: modules outside src/edge/ (its pure core) never import `worker`.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
# forbid REGEX WHY FILE...: reports every line of FILE... matching REGEX.
forbid() {
  local regex=$1 why=$2; shift 2
  local hits
  if hits=$(grep -nHE "$regex" "$@"); then
    printf 'layers: %s\n%s\n' "$why" "$hits" >&2
    fail=1
  fi
}
forbid '^\s*worker(\.workspace)?\s*=' "the core depends on worker" core/Cargo.toml zone/Cargo.toml
handlers=$(ls src/handlers/*.rs | grep -v '/mod.rs$')
forbid 'crate::handlers::|crate::app\b|^\s*use super::' "a handler imports another handler or the app" $handlers
# The queue consumer is one handler split in files: they share its helpers through `super::`,
# and import no other handler.
forbid 'crate::handlers::|crate::app\b' "a consumer file imports another handler or the app" src/handlers/consumer/*.rs
forbid 'crate::(handlers|app)\b' "the context or an adapter imports a handler or the app" src/context.rs src/http.rs src/adapters/*.rs
forbid 'crate::context\b' "an adapter takes the whole context instead of the bindings it needs" src/adapters/*.rs
forbid '^\s*use worker|worker::' "r2-fetch's pure core imports worker" r2-fetch/src/*.rs
[ "$fail" -eq 0 ] && echo "layers: ok (core without worker; app → handlers → context → adapters → core)"
exit "$fail"
