# Sourced by the scripts that measure or probe a live server.
#
#   start_server BIN [NAME=value...]
#
# Starts `BIN serve` on a free port with a scratch data directory and the given environment,
# waits for the address it prints, and sets BASE (http://host:port), SERVER_PID and WORK (the
# scratch directory, removed with the server on exit).

start_server() {
  local bin="$1"; shift
  WORK=$(mktemp -d)
  trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  env CERTIOR_DATA_DIR="$WORK/data" CERTIOR_PORT=0 CERTIOR_LOG=warn "$@" \
    "$bin" serve >"$WORK/stdout" 2>"$WORK/server.log" &
  SERVER_PID=$!
  BASE=
  for _ in $(seq 1 100); do
    BASE=$(grep -o 'http://[0-9.:]*' "$WORK/stdout" | head -1 || true)
    [ -n "$BASE" ] && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$WORK/server.log" >&2
  return 1
}
