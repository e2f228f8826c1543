#!/usr/bin/env bash
# Set up .venv, fetch the default FHIR packages into the package cache (so the
# integration tests run), then run the test suite. Exit status = pytest's.
#   scripts/test.sh [pytest arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
termsvc packages fetch --defaults >/dev/null \
  || echo "termsvc: warning: could not fetch the default packages; the tests that need them will be skipped" \
          "(and fail under CI=true)" >&2
set +e
if python -c 'import xdist' 2>/dev/null; then
  python -m pytest -q -n auto "$@"
else
  python -m pytest -q "$@"
fi
rc=$?
set -e
exit $rc
