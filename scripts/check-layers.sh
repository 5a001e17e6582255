#!/usr/bin/env bash
# Fails when an import goes against the layers (README: Layout):
#   src/app.rs → src/handlers/*, src/objects/* → src/context.rs → src/adapters/* → facteur_core
#   - facteur-core and facteur-zone have no `worker` dependency, so the compiler refuses any use
#     of the runtime or of the glue in the core; checked here only so nobody adds it back;
#   - a handler never imports another handler or the app;
#   - a Durable Object class (src/objects/) never imports a handler or the app, and no handler
#     imports an object class (handlers call objects through their clients in src/adapters/);
#   - the context and the adapters never import a handler, an object class or the app; an
#     adapter takes the bindings it needs, not the whole context;
#   - r2-fetch: modules outside src/edge/ (its pure core) never import `worker`;
#   - the core's groups (core/src/<group>/ or <group>.rs) import only from groups below them, in
#     the order of CORE_GROUPS (lowest first; lib.rs says what each holds).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
# forbid REGEX WHY FILE...: reports every line of FILE... matching REGEX.
forbid() {
  local regex=$1 why=$2; shift 2
  local hits
  # Comment lines name other modules freely (doc links); only code imports.
  if hits=$(grep -nHE "$regex" "$@" | grep -vE '^[^:]+:[0-9]+:\s*//'); then
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
forbid 'crate::(handlers|app)\b' "an object class imports a handler or the app" src/objects/*.rs
forbid 'crate::objects\b' "a handler imports an object class (use its client in adapters)" $handlers src/handlers/consumer/*.rs
forbid 'crate::(handlers|objects|app)\b' "the context or an adapter imports a handler, an object class or the app" src/context.rs src/http.rs src/adapters/*.rs
forbid 'crate::context\b' "an adapter takes the whole context instead of the bindings it needs" src/adapters/*.rs
forbid '^\s*use worker|worker::' "r2-fetch's pure core imports worker" r2-fetch/src/*.rs
# The core's groups, lowest first: a group may import from the groups before it, never after.
CORE_GROUPS=(error base delivery config gating analysis store jobs records intake operator http settings)
for ((i = 0; i < ${#CORE_GROUPS[@]}; i++)); do
  group=${CORE_GROUPS[$i]}
  higher=("${CORE_GROUPS[@]:$((i + 1))}")
  [ ${#higher[@]} -eq 0 ] && continue
  files=$(ls "core/src/$group.rs" 2>/dev/null; find "core/src/$group" -name '*.rs' 2>/dev/null || true)
  [ -n "$files" ] || { echo "layers: core group $group has no file" >&2; fail=1; continue; }
  pattern="crate::($(IFS='|'; echo "${higher[*]}"))\\b|crate::\\{[^}]*\\b($(IFS='|'; echo "${higher[*]}"))::"
  # shellcheck disable=SC2086
  forbid "$pattern" "core group '$group' imports a group above it (order: ${CORE_GROUPS[*]})" $files
done
# Every core module belongs to a group (a new top-level module must take its place in the order).
for entry in core/src/*; do
  name=$(basename "$entry" .rs)
  [ "$name" = lib ] && continue
  # A loop, not `printf | grep -q`: under pipefail grep's early exit can fail the printf.
  known=0
  for group in "${CORE_GROUPS[@]}"; do if [ "$group" = "$name" ]; then known=1; fi; done
  if [ "$known" -eq 0 ]; then
    echo "layers: core/src/$name is in no group of CORE_GROUPS (scripts/check-layers.sh)" >&2
    fail=1
  fi
done
forbid 'super::super::' "a core module reaches two levels up instead of naming the group (crate::group::…)" $(find core/src -name '*.rs')
[ "$fail" -eq 0 ] && echo "layers: ok (core without worker, its groups one way; app → handlers, objects → context → adapters → core)"
exit "$fail"
