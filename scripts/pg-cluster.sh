#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in the folder DIR, listening on 127.0.0.1 only and trusting local connections:
#   bash scripts/pg-cluster.sh start DIR     # creates it on first use; prints its URL
#   bash scripts/pg-cluster.sh restart DIR   # as `pg_ctl restart` does to a server in production
#   bash scripts/pg-cluster.sh stop DIR
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user (scripts/as-postgres.sh).
set -euo pipefail
cmd=${1:?start, restart or stop}
dir=${2:?the cluster\'s folder}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/pg_ctl" ] || { echo "pg-cluster: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
source "$(dirname "$0")/as-postgres.sh" "$dir"
ctl() { "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" "$@"; }

case "$cmd" in
  start)
    if [ ! -d "$dir/data" ]; then
      "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U pacer --auth=trust -E UTF8 --no-instructions \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
      python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/port"
    fi
    port=$(cat "$dir/port")
    # Many test processes each keep a few connections: allow plenty.
    ctl -l "$dir/server.log" -w -t 60 -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://pacer@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
  restart) ctl -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null || { cat "$dir/server.log" >&2; exit 1; } ;;
  stop) ctl -m immediate stop >/dev/null 2>&1 || true ;;
  *) echo "pg-cluster: unknown command '$cmd' (start, restart or stop)" >&2; exit 2 ;;
esac
