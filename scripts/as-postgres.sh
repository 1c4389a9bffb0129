# Sourced by pg-cluster.sh and pgbouncer.sh, whose servers refuse to run as root:
#   source "$(dirname "$0")/as-postgres.sh" DIR
# As root, sets `as_owner` to the prefix that runs a command as the `postgres` user (created if missing) and gives
# that user the folder DIR; otherwise leaves it empty.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  chown postgres "$1"
  as_owner=(runuser -u postgres --)
fi
