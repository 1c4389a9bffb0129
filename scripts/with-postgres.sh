#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster, with PACER_TEST_POSTGRES set to its URL:
#   bash scripts/with-postgres.sh swift test
# The cluster (scripts/pg-cluster.sh) lives in a temporary folder, listens on 127.0.0.1 only (a free port),
# trusts local connections, and is stopped and deleted when the command ends. Debian's `postgresql` is
# installed if missing (as root).
# With PACER_TEST_POSTGRES already set, the command simply runs against that server.
set -euo pipefail
if [ -n "${PACER_TEST_POSTGRES:-}" ]; then exec "$@"; fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "with-postgres: PostgreSQL is not installed (apt-get install postgresql), or set PACER_TEST_POSTGRES" >&2
    exit 1
  fi
  echo "with-postgres: installing Debian's postgresql" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# PgBouncer, for the tests behind a pooler (scripts/pgbouncer.sh).
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ] && [ "$(id -u)" -eq 0 ]; then
  echo "with-postgres: installing Debian's pgbouncer" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi

cluster="$(dirname "$0")/pg-cluster.sh"
dir=$(mktemp -d /tmp/pacer-pg.XXXXXX)
cleanup() {
  bash "$cluster" stop "$dir"
  rm -rf "$dir"
}
trap cleanup EXIT
url=$(bash "$cluster" start "$dir")

export PACER_TEST_POSTGRES="$url"
echo "with-postgres: PostgreSQL on ${url#*@}" >&2
set +e
"$@"
status=$?
set -e
exit $status
