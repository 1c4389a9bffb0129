#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster, with PACER_TEST_POSTGRES set to its URL:
#   bash scripts/with-postgres.sh swift test
# The cluster lives in a temporary folder, listens on 127.0.0.1 only (a free port), trusts local connections,
# and is stopped and deleted when the command ends. PostgreSQL refuses to run as root: as root, the cluster runs
# as the `postgres` user (created if missing). Debian's `postgresql` is installed if missing (as root).
# With PACER_TEST_POSTGRES already set, the command simply runs against that server.
set -euo pipefail
if [ -n "${PACER_TEST_POSTGRES:-}" ]; then exec "$@"; fi

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
bindir=$(find_bindir)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "with-postgres: PostgreSQL is not installed (apt-get install postgresql), or set PACER_TEST_POSTGRES" >&2
    exit 1
  fi
  echo "with-postgres: installing Debian's postgresql" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bindir=$(find_bindir)
fi

dir=$(mktemp -d /tmp/pacer-pg.XXXXXX)
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U pacer --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# Many test processes each keep a few connections: allow plenty.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }

export PACER_TEST_POSTGRES="postgres://pacer@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit $status
