# Sourced by serve.sh and test.sh: set up .venv with termsvc installed (re-installed
# when pyproject.toml changes) and put it first on PATH.
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
