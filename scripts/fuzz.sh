#!/usr/bin/env bash
# Fuzzes one parser with libFuzzer (the toolchain's -sanitize=fuzzer), then checks it for leaks:
#   scripts/fuzz.sh jobfile|json|answers SECONDS
# Starts from fuzz/corpus/TARGET (the shipped seeds) and grows a working corpus in .build-fuzz/corpus/TARGET. A
# crash (Swift traps on overflow and out-of-bounds access) or a hang (over 10 s for one input) stops the run and
# leaves the input in fuzz/regressions/, where `swift test` replays it from then on (FuzzRegressionTests).
# Leaks: AddressSanitizer is left out (combined with -sanitize=fuzzer here it lost the coverage feedback and the
# fuzzer found nothing new), so the corpus is replayed 20 more times in one ordinary process and the resident set
# must not grow by more than 1 MB: memory kept per input would.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh jobfile|json|answers SECONDS}
seconds=${2:?usage: scripts/fuzz.sh jobfile|json|answers SECONDS}
case "$target" in jobfile|json|answers) ;; *) echo "fuzz.sh: unknown target '$target'" >&2; exit 2 ;; esac
swift build -c release --sanitize=fuzzer -Xswiftc -DFUZZING --build-path .build-fuzz --product pacer-fuzz
work=.build-fuzz/corpus/$target
mkdir -p "$work" fuzz/regressions
echo "fuzzing $target for $seconds s"
PACER_FUZZ_TARGET=$target .build-fuzz/release/pacer-fuzz "$work" "fuzz/corpus/$target" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="fuzz/regressions/$target-" -print_final_stats=1

echo "leak check: the corpus replayed 20 more times"
swift build -c release --product pacer-fuzz >/dev/null 2>&1
inputs=$(find "$work" "fuzz/corpus/$target" -type f | head -3000)
# shellcheck disable=SC2086
line=$(PACER_FUZZ_REPEAT=20 .build/release/pacer-fuzz "$target" $inputs | tail -1)
echo "$line"
growth=$(echo "$line" | awk '{print $(NF-1) - $(NF-4)}')
[ "$growth" -le 1024 ] || { echo "fuzz.sh: $target grew by $growth KB over 20 rounds: a leak" >&2; exit 1; }
