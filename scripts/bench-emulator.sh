#!/usr/bin/env bash
# Measures the emulator's throughput with a bounded load from wrk on loopback (10 s, 64 connections).
# Installs wrk from Debian's packages if it is missing. Prints wrk's figures; nothing is sent off 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_OF_LOAD:-10}
connections=${CONNECTIONS:-64}

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
swift build -c release --product pacer >/dev/null
pacer=.build/release/pacer
work=$(mktemp -d)
trap 'kill "$sandbox" 2>/dev/null || true; rm -rf "$work"' EXIT

# An account whose limit never binds, so every request goes the whole way: auth, window, business logic.
cat > "$work/emulator.json" <<JSON
{"accounts":[{"provider":"kookeey","key":"bench","secret":"bench-token","limit":"100000000/1s"}],"faults":{"seed":1}}
JSON
"$pacer" sandbox --port 0 --config "$work/emulator.json" > "$work/sandbox.log" 2>&1 &
sandbox=$!
for _ in $(seq 1 100); do grep -q "listening" "$work/sandbox.log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/sandbox.log")
[ -n "$port" ] || { echo "bench: the sandbox did not start" >&2; cat "$work/sandbox.log" >&2; exit 1; }

# One signed Kookeey call (valid for the 30 s timestamp window), repeated by wrk.
export BENCH_TOKEN=bench-token
"$pacer" account add bench --provider kookeey --base-url "http://127.0.0.1:$port/kookeey" --limit 10/1s \
  --key bench --secret-env BENCH_TOKEN --db "$work/pacer.sqlite" >/dev/null
url=$("$pacer" call bench GET /stock g=433 --dry-run --json --db "$work/pacer.sqlite" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')

echo "emulator load: wrk -t2 -c$connections -d${seconds}s against 127.0.0.1:$port (signed Kookeey /stock)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "$url"
curl -s "http://127.0.0.1:$port/_emulator/stats" | python3 -c '
import json,sys
s=json.load(sys.stdin)["accounts"][0]
print("emulator stats: accepted", s["accepted"], "rejected", s["rejected"])'
