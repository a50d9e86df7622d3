#!/usr/bin/env bash
# HTTP load figures for the main paths, side by side in one run, with `oha` (crates.io) as the
# load tool: POST /tasks with a 3-step plan, GET /executions/{id}, GET /compliance/presets,
# GET /releases/decision and the trust badge. Prints one markdown row per path: req/s, p50, p99,
# and the server's peak RSS during that path's run.
#
#   scripts/load.sh [--seconds N] [--connections N] [--bin PATH]
#   (defaults: 10 s per path, 64 connections, target/release/certior built if missing)
#
# The load tool runs on the same machine as the server; on 2 cores the figures are lower bounds.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PATH=10
CONNECTIONS=64
BIN="${CARGO_TARGET_DIR:-target}/release/certior"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_PATH="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--connections N] [--bin PATH]" >&2; exit 2 ;;
  esac
done

OHA_VERSION=1.16.0
if ! oha --version 2>/dev/null | grep -q "$OHA_VERSION"; then
  cargo install oha --locked --version "$OHA_VERSION"
fi
[ -x "$BIN" ] || cargo build --release --locked --bin certior

# shellcheck source=lib/start-server.sh
source scripts/lib/start-server.sh
start_server "$BIN" CERTIOR_WORKERS=8

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
KEY=$(curl -sf "$BASE/api/v1/auth/register" -d '{"email": "load@example.com", "password": "load-password-1"}' | json_field api_key)
AUTH="Authorization: Bearer $KEY"
TASK='{"task": "Write, read back and list a note", "permissions": ["filesystem:read", "filesystem:write:notes", "filesystem:list"],
  "plan": [{"tool": "file_write", "args": {"path": "notes/a.txt", "content": "hello"}},
           {"tool": "file_read", "args": {"path": "notes/a.txt"}},
           {"tool": "file_list", "args": {"path": "notes"}}]}'
EXECUTION=$(curl -sf "$BASE/api/v1/tasks" -H "$AUTH" -d "$TASK" | json_field execution_id)
REPO=acme/widget
SHA=1111111111111111111111111111111111111111

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }

# One path under load: oha's JSON summary plus the peak RSS sampled every 100 ms meanwhile.
measure() {
  local label="$1"; shift
  local peak=0
  oha --no-tui --output-format json -z "${SECONDS_PER_PATH}s" -c "$CONNECTIONS" "$@" >"$WORK/oha.json" &
  local oha_pid=$!
  while kill -0 "$oha_pid" 2>/dev/null; do
    local now; now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.1
  done
  wait "$oha_pid"
  python3 - "$label" "$peak" "$WORK/oha.json" <<'EOF'
import json, sys
label, peak_kib, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
report = json.load(open(path))
summary, pct = report["summary"], report["latencyPercentiles"]
codes = report.get("statusCodeDistribution", {})
ms = lambda s: f"{s * 1000:.1f}"
print(f"| {label} | {summary['requestsPerSec']:,.0f} | {ms(pct['p50'])} | {ms(pct['p99'])} | "
      f"{peak_kib / 1024:.0f} | {', '.join(f'{k}: {v}' for k, v in sorted(codes.items()))} |")
EOF
}

echo "Server $BIN, $CONNECTIONS connections, ${SECONDS_PER_PATH} s per path; idle RSS $(( $(rss_kib) / 1024 )) MiB"
echo
echo "| Path | req/s | p50 ms | p99 ms | peak RSS MiB | statuses |"
echo "|---|---|---|---|---|---|"
measure "GET /api/v1/executions/{id}" -H "$AUTH" "$BASE/api/v1/executions/$EXECUTION"
measure "GET /api/v1/compliance/presets" "$BASE/api/v1/compliance/presets"
measure "GET /api/v1/releases/decision" -H "$AUTH" "$BASE/api/v1/releases/decision?repo_root=$REPO&commit_sha=$SHA"
measure "GET /api/v1/trust/badge" "$BASE/api/v1/trust/badge?repo=$REPO&commit=$SHA"
# Last: the submitted tasks keep the workers busy after this run, which would skew the others.
measure "POST /api/v1/tasks (3-step plan)" -m POST -H "$AUTH" -H "content-type: application/json" -d "$TASK" "$BASE/api/v1/tasks"
