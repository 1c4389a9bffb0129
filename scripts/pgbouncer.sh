#!/usr/bin/env bash
# PgBouncer in transaction mode in front of a PostgreSQL server, on 127.0.0.1 (a free port), for the tests that
# run Pacer behind a pooler (docs/postgres.md):
#   bash scripts/pgbouncer.sh start DIR postgres://USER@127.0.0.1:PORT/DB   # prints the pooler's URL
#   bash scripts/pgbouncer.sh stop DIR
# PgBouncer refuses to run as root: as root, it runs as the `postgres` user (scripts/as-postgres.sh).
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?the pooler\'s folder}
bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$bin" ] || { echo "pgbouncer.sh: PgBouncer is not installed (apt-get install pgbouncer)" >&2; exit 1; }
source "$(dirname "$0")/as-postgres.sh" "$dir"
case "$cmd" in
  start)
    server=${3:?the server\'s URL}
    rest=${server#*://}; user=${rest%%@*}; hostport=${rest#*@}; hostport=${hostport%%/*}
    host=${hostport%%:*}; port=${hostport##*:}
    listen=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "\"$user\" \"\"" >"$dir/users.txt"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $listen
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    chmod a+r "$dir"/*
    "${as_owner[@]}" "$bin" -d "$dir/pgbouncer.ini" >"$dir/start.log" 2>&1 || { cat "$dir/start.log" "$dir/pgbouncer.log" >&2; exit 1; }
    for _ in $(seq 50); do
      python3 -c "import socket; socket.create_connection(('127.0.0.1', $listen), 0.2)" 2>/dev/null && break
      sleep 0.1
    done
    echo "postgres://$user@127.0.0.1:$listen/"
    ;;
  stop) [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true ;;
  *) echo "pgbouncer.sh: unknown command '$cmd' (start or stop)" >&2; exit 2 ;;
esac
