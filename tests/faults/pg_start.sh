#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the many-machines test.
#   tests/faults/pg_start.sh [DIR]   initdb in DIR (default: a new /tmp/ablate-pg.XXXXXX), start on a free
#                                    port; prints the URL, then DIR (2 lines). Trust auth, user and db `ablate`.
#   tests/faults/pg_start.sh stop DIR
# As root (containers, CI) the server runs as the `postgres` user, as PostgreSQL refuses to run as root.
set -euo pipefail

bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  local d; d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  echo "pg_start: PostgreSQL is not installed (no initdb; Debian: apt-get install postgresql)" >&2
  return 1
}
BIN=$(bindir)

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  as_pg "$BIN/pg_ctl" -D "$2/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$2"
  exit 0
fi

DIR=${1:-$(mktemp -d /tmp/ablate-pg.XXXXXX)}
mkdir -p "$DIR"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "pg_start: running as root needs the 'postgres' user" >&2; exit 1; }
  chown -R postgres "$DIR"
  chmod 700 "$DIR"
fi
as_pg "$BIN/initdb" -D "$DIR/data" -A trust -U ablate -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
# fsync off: a test database, thrown away; it only makes the test faster
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c max_connections=200" \
  start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U ablate ablate
echo "postgresql://ablate@127.0.0.1:$PORT/ablate"
echo "$DIR"
