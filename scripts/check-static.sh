#!/usr/bin/env bash
# Runs a Pacer binary where no Swift exists: a minimal Debian root (debootstrap's minbase, plus libsqlite3-0 and
# ca-certificates: what the Dockerfile's runtime image installs), entered with chroot, with an empty environment.
# There it runs `pacer demo` from /tmp, away from any repository, (and `pacer --help`).
#
#   sudo bash scripts/check-static.sh dist/pacer-linux-x86_64
#
# The root is cached in $PACER_ROOTFS (default /tmp/pacer-rootfs) and reused.
set -euo pipefail
binary="$(realpath "${1:?usage: check-static.sh BINARY}")"
root="${PACER_ROOTFS:-/tmp/pacer-rootfs}"
release="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
if [[ ! -x "$root/bin/sh" ]]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
    debootstrap --variant=minbase --include=libsqlite3-0,ca-certificates "$release" "$root" \
        http://deb.debian.org/debian >/dev/null
fi
if find "$root" \( -iname 'libswift*' -o -iname '*.swiftmodule' -o -name 'swift' \) -print -quit | grep -q .; then
    echo "error: $root contains Swift files; start from a clean root" >&2
    exit 1
fi
install -m 0755 "$binary" "$root/usr/local/bin/pacer"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
run() { chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp /bin/sh -c "cd /tmp && $*"; }
run pacer --help >/dev/null
started=$(date +%s)
run pacer demo > "$root/tmp/demo.out"
echo "pacer demo ran in the minimal root in $(( $(date +%s) - started )) s:"
grep -E '^(done:|every limit held)' "$root/tmp/demo.out" | sed 's/^/  /'
grep -q '^every limit held' "$root/tmp/demo.out"
