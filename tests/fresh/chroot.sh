#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# chroot.sh [--keep] [--no-host-cache] [--rev REV] [--log FILE] -- TARGET...
#
# Prove that the README's commands work on a fresh Debian 12 machine: build
# a clean Debian 12 (bookworm) root with debootstrap, from the Debian mirror
# this host's apt uses, put a fresh `git clone` of this repository (at REV,
# default HEAD) in it, and run `make TARGET...` there as root, with nothing
# installed but what debootstrap's default variant installs plus `make`
# (needed to type `make`) and `git`.
#
#   --keep           leave the root in place afterwards (printed at the end)
#   --no-host-cache  download every package from the mirror; by default the
#                    host's /var/cache/apt/archives is overlaid read-only
#                    under the chroot's, which saves the downloads but not
#                    one installation
#   --rev REV        the commit to clone (default HEAD of this checkout)
#   --log FILE       also write make's output to FILE
#
# The base root is cached as a tarball in $FRESH_DIR (default
# /var/tmp/phloem-fresh); each run unpacks it afresh. /proc, /sys and /dev
# are bind-mounted (QEMU and network namespaces need them), the root itself
# is made a mount point (`ip netns exec` needs one), and the
# host's VM and netns locks are bind-mounted over the chroot's own, so a
# VM in the chroot still queues behind the host's.
#
# This is a manual proof, not part of `make check` (it installs the whole
# toolchain: about 10 to 20 minutes). Exit status: make's.
set -eu

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FRESH_DIR=${FRESH_DIR:-/var/tmp/phloem-fresh}
SUITE=bookworm
keep=0
host_cache=1
rev=HEAD
log=

usage() {
	sed -n '3,/^set -eu/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' -e '/^set -eu/d' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=1; shift ;;
	--no-host-cache) host_cache=0; shift ;;
	--rev) rev=${2:?}; shift 2 ;;
	--log) log=${2:?}; shift 2 ;;
	--) shift; break ;;
	-h|--help) usage ;;
	-*) echo "chroot.sh: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "chroot.sh: no make target given" >&2; usage; }
[ "$(id -u)" = 0 ] || { echo "chroot.sh: must run as root (debootstrap, chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null ||
	{ echo "chroot.sh: debootstrap missing: apt-get install debootstrap" >&2; exit 2; }

# The host's Debian mirror: the first URI of a deb822 source or a one-line
# source for the main archive (not -security, not third-party repositories).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '/^URIs:/ && $2 ~ /debian\/?$/ && $2 !~ /security/ { print $2; exit }')
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	awk '$1 == "deb" && $2 !~ /^\[/ && $2 ~ /debian\/?$/ && $2 !~ /security/ { print $2; exit }')
[ -n "$mirror" ] || { echo "chroot.sh: no Debian mirror found in /etc/apt" >&2; exit 2; }

mkdir -p "$FRESH_DIR"
base=$FRESH_DIR/$SUITE-base.tar.gz
if [ ! -s "$base" ]; then
	echo "fresh: debootstrap $SUITE from $mirror (once; cached in $base)"
	t=$(mktemp -d "$FRESH_DIR/bootstrap.XXXXXX")
	if ! debootstrap --include=make,git,ca-certificates "$SUITE" "$t/root" "$mirror" \
		> "$t.log" 2>&1; then
		tail -n 20 "$t.log" >&2
		rm -rf "$t"
		exit 1
	fi
	tar -C "$t/root" -czf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf "$t" "$t.log"
fi

root=$(mktemp -d "$FRESH_DIR/root.XXXXXX")
mounts=()
cleanup() {
	local i m
	# what the run mounted itself first (ip netns: /run/netns), deepest first
	awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	for (( i=${#mounts[@]}-1; i>=0; i-- )); do
		umount -l "${mounts[$i]}" 2>/dev/null || true
	done
	if [ $keep = 1 ]; then
		echo "fresh: root kept in $root"
	else
		rm -rf --one-file-system "$root"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mnt() { mount "$@"; mounts+=("${@: -1}"); }

tar -C "$root" -xzf "$base"

# apt: the host's Debian sources (only those) and any proxy settings.
rm -f "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
	[ -f "$f" ] || continue
	grep -qE 'deb\.debian\.org|/debian(-security)?/?( |$)' "$f" || continue
	cp "$f" "$root$f"
done
grep -rlsiE 'proxy|Check-Valid-Until' /etc/apt/apt.conf.d/ | while read -r f; do
	cp "$f" "$root$f"
done
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# The host's own trust anchors too (a proxy's CA, like apt's proxy settings
# above): HTTPS from the root, npm's for check-web and bench-web, goes
# through the host's network. Without them npm could not install
# playwright-core and the browser checks skipped.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	chroot "$root" update-ca-certificates >/dev/null 2>&1 ||
		echo "fresh: update-ca-certificates failed in the root; HTTPS may not work there" >&2
fi

# The root a mount point of its own: `ip netns exec` (bench-netns,
# check-netns) makes / a slave mount, which fails on a plain directory.
mnt --bind "$root" "$root"
mnt --bind /proc "$root/proc"
mnt --bind /sys "$root/sys"
mnt --bind /dev "$root/dev"
mnt --bind /dev/pts "$root/dev/pts"
mkdir -p "$root/run/netns"
for l in phloem-vm.lock phloem-netns.lock; do
	touch "/tmp/$l" "$root/tmp/$l"
	mnt --bind "/tmp/$l" "$root/tmp/$l"
done
if [ $host_cache = 1 ] && [ -d /var/cache/apt/archives ]; then
	mkdir -p "$FRESH_DIR/cache" && up=$(mktemp -d "$FRESH_DIR/cache/up.XXXXXX")
	mkdir -p "$up/u" "$up/w"
	mnt -t overlay overlay -o "lowerdir=/var/cache/apt/archives,upperdir=$up/u,workdir=$up/w" \
		"$root/var/cache/apt/archives"
	trap 'cleanup; rm -rf "$up"' EXIT
fi

# A clean clone, as a user would have it: no build/, nothing untracked.
src=/root/phloem
git clone -q --no-local "$TOP" "$root$src"
git -C "$root$src" checkout -q "$(git -C "$TOP" rev-parse "$rev")"
echo "fresh: $(git -C "$root$src" log -1 --format='%h %s') in $root$src"

echo "fresh: make $* (in a Debian $SUITE chroot, $(chroot "$root" dpkg-query -W | wc -l) packages installed)"
set +e
if [ -n "$log" ]; then
	chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb \
		LANG=C.UTF-8 make -C "$src" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
else
	chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb \
		LANG=C.UTF-8 make -C "$src" "$@"
	rc=$?
fi
set -e
echo "fresh: make $* exited with status $rc"
exit $rc
