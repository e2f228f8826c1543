#!/usr/bin/env bash
# Quick start: set up .venv, build the default content when the database is missing
# (or with --rebuild), then serve it (settings host/port: 127.0.0.1:8080 by default).
#   scripts/serve.sh [--rebuild] [extra `termsvc serve` options, e.g. --port 9090]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ARGS=()
for a in "$@"; do
  if [ "$a" = "--rebuild" ]; then termsvc build; else ARGS+=("$a"); fi
done
exec termsvc serve --build-if-missing "${ARGS[@]+"${ARGS[@]}"}"
