#!/usr/bin/env bash
# API fuzzing with Schemathesis (PyPI) against the live /openapi.json of a fresh `certior serve`:
# every operation, authenticated with a real administrator key; fails on any 5xx or any response
# that violates the schema the server publishes.
#
#   scripts/api-fuzz.sh [--max-time SECONDS]     (default 120; needs target/debug/certior)
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_TIME=120
while [ $# -gt 0 ]; do
  case "$1" in
    --max-time) MAX_TIME="$2"; shift 2 ;;
    *) echo "usage: $0 [--max-time SECONDS]" >&2; exit 2 ;;
  esac
done

SCHEMATHESIS_VERSION=4.32.5
VENV=target/api-fuzz-venv
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

BIN="${CARGO_TARGET_DIR:-target}/debug/certior"
[ -x "$BIN" ] || cargo build --locked --bin certior

# shellcheck source=lib/start-server.sh
source scripts/lib/start-server.sh
start_server "$BIN" \
  CERTIOR_BOOTSTRAP_ADMIN_EMAIL=fuzz-admin@example.com CERTIOR_BOOTSTRAP_ADMIN_PASSWORD=fuzz-admin-password \
  CERTIOR_GITHUB_WEBHOOK_SECRET=fuzz-webhook-secret

login() {
  curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email": "fuzz-admin@example.com", "password": "fuzz-admin-password"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])'
}

# Both keys before any fuzzing: the first pass fails enough logins from this address to trip
# the per-address login limit (spec §1.11), after which a login would be refused and leave the
# second pass without a key.
MAIN_KEY=$(login)
SESSION_KEY=$(login)

run() {
  local key=$1
  shift
  "$VENV/bin/st" run "$BASE/openapi.json" -H "Authorization: Bearer $key" \
    --checks not_a_server_error,response_schema_conformance \
    --phases examples,coverage,fuzzing --seed 1 "$@"
}

status=0
# Logout and rotate revoke the key they present, so they get their own pass and key.
echo "== every operation except logout and rotate (budget ${MAX_TIME}s)"
run "$MAIN_KEY" --max-time "$MAX_TIME" --exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/rotate || status=1
echo "== logout and rotate"
run "$SESSION_KEY" --max-time 20 --include-path /api/v1/auth/logout --include-path /api/v1/auth/rotate || status=1

if grep -q "panicked" "$WORK/server.log"; then
  echo "the server logged a panic:"; grep -A5 "panicked" "$WORK/server.log"; status=1
fi
exit $status
