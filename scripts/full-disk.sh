#!/usr/bin/env bash
# Pacer on a full disk, a read-only database and a corrupt one (issue: proof under stress). Needs root: it mounts
# a small tmpfs for the database. Everything talks to the emulator on 127.0.0.1 only; every wait is bounded.
#
#   scripts/full-disk.sh
#
# 1. `pacer run --drain` sends 600 calls; 4 s in, the filesystem is filled. The run must say "disk full" plainly,
#    keep running, send nothing more, and once space is freed finish every call exactly once.
# 2. The filesystem remounted read-only: `pacer status` and `pacer run` fail with a clear error.
# 3. A corrupt database file: a clear error, exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product pacer >/dev/null 2>&1
pacer=$PWD/.build/release/pacer
mnt=$(mktemp -d /tmp/pacer-fulldisk.XXXXXX)
logs=$(mktemp -d /tmp/pacer-fulldisk-logs.XXXXXX)
mount -t tmpfs -o size=8m tmpfs "$mnt"
sandbox=
cleanup() { [ -n "$sandbox" ] && kill "$sandbox" 2>/dev/null; umount "$mnt" 2>/dev/null || umount -l "$mnt"; rmdir "$mnt"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "logs in $logs" >&2; exit 1; }

port=$((20000 + RANDOM % 20000))
"$pacer" sandbox --port "$port" >"$logs/sandbox.out" 2>&1 &
sandbox=$!
for _ in $(seq 50); do grep -q "$port" "$logs/sandbox.out" 2>/dev/null && break; sleep 0.1; done
export PACER_FULLDISK_SECRET=demo-bitz-secret PACER_LOG_LEVEL=warning
db=$mnt/pacer.sqlite
"$pacer" account add bz --provider bitz --base-url "http://127.0.0.1:$port/bitz" --limit 30/1s \
  --key demo-bitz-key --secret-env PACER_FULLDISK_SECRET --db "$db" >/dev/null
cat >"$logs/job.yaml" <<'YAML'
name: full-disk
account: bz
request:
  method: POST
  path: /Trade/cancelAllEntrustSheet
  params:
    ids: "{{item}}"
items:
  range: 1..600
YAML
"$pacer" enqueue "$logs/job.yaml" --db "$db" >/dev/null

echo "1. a full disk mid-run"
"$pacer" run --drain --max-seconds 120 --db "$db" 2>"$logs/run.err" &
run=$!
sleep 4
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true
sleep 8
kill -0 "$run" 2>/dev/null || fail "pacer run ended on a full disk"
grep -q "disk full" "$logs/run.err" || fail "pacer run did not say 'disk full'"
before=$(curl -s "http://127.0.0.1:$port/_emulator/stats" | grep -o '"accepted":[0-9]*' | head -1)
sleep 3
after=$(curl -s "http://127.0.0.1:$port/_emulator/stats" | grep -o '"accepted":[0-9]*' | head -1)
[ -n "$before" ] && [ -n "$after" ] || fail "cannot read the emulator's stats"
[ "$before" = "$after" ] || fail "calls were sent while the disk was full ($before, then $after)"
echo "   said: $(grep -m1 -o 'disk full[^;]*' "$logs/run.err")"
rm -f "$mnt/filler"
for _ in $(seq 600); do kill -0 "$run" 2>/dev/null || break; sleep 0.1; done
wait "$run" || fail "pacer run exited non-zero after space was freed"
succeeded=$("$pacer" status --json --db "$db" | grep -o '"succeeded":[0-9]*' | head -1)
[ "$succeeded" = '"succeeded":600' ] || fail "expected 600 succeeded, got $succeeded"
stats=$(curl -s "http://127.0.0.1:$port/_emulator/stats")
echo "$stats" | grep -q '"accepted":600' || fail "the emulator did not perform exactly 600 calls: $stats"
echo "   all 600 calls done once after space was freed"

echo "2. a read-only database"
mount -o remount,ro "$mnt"
if "$pacer" run --drain --max-seconds 10 --db "$db" 2>"$logs/ro.err"; then fail "pacer run succeeded on a read-only database"; fi
grep -q "cannot be written (Read-only file system)" "$logs/ro.err" || fail "no clear error on a read-only database: $(cat "$logs/ro.err")"
echo "   said: $(head -1 "$logs/ro.err")"
mount -o remount,rw "$mnt"

echo "3. a corrupt database"
head -c 8192 /dev/urandom >"$mnt/corrupt.sqlite"
if "$pacer" status --db "$mnt/corrupt.sqlite" 2>"$logs/corrupt.err"; then fail "status succeeded on a corrupt database"; fi
grep -q "not a database" "$logs/corrupt.err" || fail "no clear error on a corrupt database: $(cat "$logs/corrupt.err")"
echo "   said: $(head -1 "$logs/corrupt.err")"
echo "full-disk: all checks passed"
