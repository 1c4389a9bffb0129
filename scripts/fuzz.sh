#!/usr/bin/env bash
# Fuzzes one parser with libFuzzer (the toolchain's -sanitize=fuzzer; Swift's own checks catch overflows and
# out-of-bounds access; -rss_limit_mb catches memory that keeps growing):
#   scripts/fuzz.sh jobfile|json|answers SECONDS
# (AddressSanitizer is left out: combined with -sanitize=fuzzer here it lost the coverage feedback, and the
# fuzzer found nothing new at all.) Starts from fuzz/corpus/TARGET (the shipped seeds) and grows a working corpus in .build-fuzz/corpus/TARGET. A
# crash, hang (over 10 s for one input) or leak stops the run and leaves the input in fuzz/regressions/, where
# `swift test` replays it from then on (FuzzRegressionTests).
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
