#!/usr/bin/env bash
# A throw-away PostgreSQL 15 server for the tests, CI and the benchmarks.
#
#   tools/postgres.sh start    initdb (first time) and start; prints the URL
#   tools/postgres.sh stop     stop it (fast shutdown); the data folder stays
#   tools/postgres.sh status   exit 0 when it runs
#   tools/postgres.sh url      the libpq URL of its `postgres` database
#   tools/postgres.sh clean    stop it and remove its folder
#
# It uses Debian's binaries (/usr/lib/postgresql/15/bin, package postgresql-15). initdb refuses
# to run as root, so as root every server command runs as the `postgres` user. The server has
# a folder (data, socket, log), a port (not 5432) and settings of its own: trust
# authentication on 127.0.0.1 and its socket only, no fsync, no synchronous commit (a test
# server loses its data in a crash, by design). Never point this at a real cluster.
#
# Settings (environment):
#   KFM_PG_DIR   its folder        (default: <checkout>/.pg, git-ignored; /tmp/kfm-gate-pg-<port>
#                                   when the postgres user cannot reach the checkout)
#   KFM_PG_PORT  its TCP port      (default: 54329)
#   KFM_PG_BIN   the binaries      (default: /usr/lib/postgresql/15/bin, else the newest
#                                   /usr/lib/postgresql/<n>/bin, e.g. on a GitHub runner)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
PG_PORT="${KFM_PG_PORT:-54329}"
if [ -n "${KFM_PG_DIR:-}" ]; then
  PG_DIR="$KFM_PG_DIR"
else
  # the checkout's .pg/, unless the postgres user cannot reach the checkout (e.g. a clone
  # under /root) or its socket path would be too long: then a folder of its own under /tmp
  PG_DIR="$here/.pg"
  if { [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$here" 2>/dev/null; } ||
    [ "${#PG_DIR}" -gt 76 ]; then
    PG_DIR="/tmp/kfm-gate-pg-$PG_PORT"
  fi
fi
if [ -n "${KFM_PG_BIN:-}" ]; then
  PG_BIN="$KFM_PG_BIN"
elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  PG_BIN=/usr/lib/postgresql/15/bin
else
  PG_BIN="$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
  PG_BIN="${PG_BIN%/initdb}"
  PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
fi
DATA="$PG_DIR/data"
SOCK="$PG_DIR/run"
LOG="$PG_DIR/server.log"

die() {
  echo "tools/postgres.sh: $*" >&2
  exit 2
}

case "$PG_PORT" in
  '' | *[!0-9]*) die "KFM_PG_PORT=$PG_PORT is not a port number" ;;
esac
[ "$PG_PORT" != 5432 ] || die "KFM_PG_PORT=5432 is the system cluster's port: choose another"

# run a server command as the postgres user when we are root, as ourselves otherwise
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() {
  echo "postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
}

running() {
  [ -f "$DATA/PG_VERSION" ] && as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
  [ -x "$PG_BIN/initdb" ] || die "no PostgreSQL binaries in $PG_BIN: apt-get install postgresql-15 (or set KFM_PG_BIN)"
  if running; then
    url
    return 0
  fi
  # the socket path must fit in sun_path (107 bytes with the file name .s.PGSQL.<port>)
  if [ "${#SOCK}" -gt 80 ]; then
    die "socket folder $SOCK is too long for a Unix socket: set KFM_PG_DIR to a shorter path"
  fi
  mkdir -p "$PG_DIR" "$SOCK"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as (initdb refuses root)"
    chown postgres: "$PG_DIR" "$SOCK"
    # the postgres user must be able to reach its folder
    runuser -u postgres -- test -w "$PG_DIR" ||
      die "user postgres cannot write $PG_DIR (a parent folder is not searchable?): set KFM_PG_DIR"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
      die "initdb failed: see $PG_DIR/initdb.log"
  fi
  # -F: no fsync; the rest: a test server, nothing to keep through a crash
  as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o "-F -p $PG_PORT -k $SOCK \
    -c listen_addresses=127.0.0.1 -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=200 -c shared_buffers=64MB" >/dev/null ||
    die "the server did not start: see $LOG"
  url
}

stop() {
  if running; then
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running ;;
  url) url ;;
  clean)
    stop
    rm -rf "$PG_DIR"
    ;;
  *)
    echo "usage: tools/postgres.sh start|stop|status|url|clean" >&2
    exit 2
    ;;
esac
