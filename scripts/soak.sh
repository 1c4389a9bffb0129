#!/usr/bin/env bash
# The soak (issue: proof under stress), not part of `swift test`: the emulator with faults on every provider,
# 5,000 calls over 8 accounts including orders, three runners, one SIGKILLed and restarted at random moments
# (50 times by default), then a final drain; checks from the emulator's stats. A few minutes; 127.0.0.1 only.
#   scripts/soak.sh [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product pacer >/dev/null 2>&1
swift build -c release --product pacer-bench >/dev/null 2>&1
exec .build/release/pacer-bench soak --kills "${1:-50}"
