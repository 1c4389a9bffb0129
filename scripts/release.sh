#!/usr/bin/env bash
# Builds Pacer as one binary that runs without a Swift toolchain: the Swift runtime and Foundation linked in
# (--static-swift-stdlib), symbols stripped. It needs only libc, libstdc++, libgcc_s, libz and libsqlite3 on the
# target (Debian: libsqlite3-0). Writes dist/pacer-linux-<arch> and prints what it links against.
#
#   bash scripts/release.sh           # build into dist/
#   bash scripts/release.sh --check   # and run `pacer demo` with it in a minimal Debian root without Swift
#                                     # (scripts/check-static.sh; needs root and Debian's mirror)
set -euo pipefail
cd "$(dirname "$0")/.."
arch="$(uname -m)"
swift build -c release --product pacer --static-swift-stdlib -Xlinker -s
mkdir -p dist
out="dist/pacer-linux-$arch"
cp "$(swift build -c release --show-bin-path)/pacer" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
echo "links against:"
ldd "$out" | sed 's/^/  /'
if ldd "$out" | grep -q -i swift; then
    echo "error: $out still needs a Swift library" >&2
    exit 1
fi
if [[ "${1:-}" == "--check" ]]; then
    bash scripts/check-static.sh "$out"
fi
