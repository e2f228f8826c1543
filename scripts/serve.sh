#!/usr/bin/env bash
# Quick start: set up .venv, build the default content when the database is missing
# (or with --rebuild), then serve it on 127.0.0.1:8080.
#   scripts/serve.sh [--rebuild] [extra `termsvc serve` options, e.g. --port 9090]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
REBUILD=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--rebuild" ]; then REBUILD=1; else ARGS+=("$a"); fi
done
DB="${TERMSVC_DB:-$PROJECT_DIR/data/termsvc.db}"
export TERMSVC_DB="$DB"
if [ "$REBUILD" = 1 ] || [ ! -f "$DB" ]; then
  termsvc build
fi
exec termsvc serve --host 127.0.0.1 --port 8080 "${ARGS[@]+"${ARGS[@]}"}"
