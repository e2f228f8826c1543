#!/usr/bin/env bash
# Quick start: set up .venv, build the default content when the database is missing
# (or with --rebuild), then serve it on 127.0.0.1:8080.
#   scripts/serve.sh [--rebuild] [extra `termsvc serve` options, e.g. --port 9090]
set -euo pipefail
# -- environment: .venv with termsvc installed (re-installed when pyproject.toml changes) --
PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT_DIR"
VENV="$PROJECT_DIR/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  PY="$(command -v python3.11 || command -v python3 || true)"
  if [ -z "$PY" ]; then echo "termsvc: error: python3.11 (or python3 >= 3.11) is needed" >&2; exit 1; fi
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "termsvc: error: $PY is older than Python 3.11" >&2; exit 1; }
  echo "creating $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.termsvc-installed"
HASH="$(cat pyproject.toml | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ] || ! "$VENV/bin/python" -c 'import termsvc' 2>/dev/null; then
  echo "installing termsvc and its dependencies into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet -e '.[test]'
  echo "$HASH" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# -- end of environment setup --
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
