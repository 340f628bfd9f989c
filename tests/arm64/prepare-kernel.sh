#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# prepare-kernel.sh ARCH: print the path of a kernel object tree for ARCH
# (arm64 or arm) on which out-of-tree modules can be built, preparing it
# first when it is not cached yet.
#
# The source is Debian's linux-source-6.1 tarball, extracted once; each
# architecture gets its own O= object tree, then `make modules_prepare`.
#
# arm64: the .config of Debian's own arm64 kernel of the same version (from
# its linux-headers package) plus tests/arm64/phloem.config. Why not
# `defconfig`: modules_prepare does not produce Module.symvers (that takes a
# full vmlinux build, an hour on two cores), and without it modpost cannot
# tell an unexported symbol from a typo. The headers package has the
# Module.symvers of exactly that configuration; mixed with a defconfig tree
# it is wrong (defconfig arm64 is PREEMPT, so spin_lock() calls
# _raw_spin_lock, which Debian's non-preempt kernel inlines and does not
# export). Debian's configuration is also what a Debian-based gateway runs.
#
# arm (32-bit, for the compile and division checks only): multi_v7_defconfig
# plus the fragment, and no Module.symvers: modpost then only warns about
# symbols, and tests/arm64/check.sh looks for libgcc's division helpers
# itself. (Debian's armhf headers would need armhf as a foreign dpkg
# architecture, which makes every apt-get update depend on the mirror's
# armhf indexes too.)
#
# Everything lives outside the repository, under
# ${PHLOEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phloem}, keyed by the source
# package version, the compiler version, the configuration source and the
# fragment, so a fresh clone (CI) reuses it. Cold cost on two cores, measured:
# 40-65 s for both trees (1.5 GB extracted, one ~10 MB download).
set -euo pipefail

arch=${1:?usage: prepare-kernel.sh arm64|arm}
here=$(cd "$(dirname "$0")" && pwd)
frag=$here/phloem.config
tarball=${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
cache=${PHLOEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phloem}

case $arch in
arm64) cross=aarch64-linux-gnu- debarch=arm64 flavour=arm64 defconfig= ;;
arm)   cross=arm-linux-gnueabihf- defconfig=multi_v7_defconfig ;;
*) echo "prepare-kernel.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac
CROSS_COMPILE=${CROSS_COMPILE:-$cross}

log() { echo "prepare-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

[ -r "$tarball" ] || die "$tarball missing (apt-get install linux-source-6.1)"
command -v "${CROSS_COMPILE}gcc" >/dev/null || die "${CROSS_COMPILE}gcc missing"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %Y "$tarball")
ccver=$("${CROSS_COMPILE}gcc" -dumpfullversion)
pkg='' pkgver=''
if [ "$arch" = arm64 ]; then
	# Debian's kernel headers for this architecture: prefer the source's version.
	pkg=$(apt-cache depends "linux-headers-$flavour:$debarch" 2>/dev/null |
		sed -n "s/^ *Depends: \(linux-headers-[0-9.-]*-$flavour\)\(:$debarch\)\?$/\1/p" | head -n1)
	[ -n "$pkg" ] || die "no linux-headers-*-$flavour:$debarch in apt (tests/arm64/deps.sh enables it)"
	pkgver=$(apt-cache policy "$pkg:$debarch" | sed -n 's/^ *Candidate: //p')
fi
key=$( { echo "$srcver $arch $ccver ${pkg:-$defconfig} $pkgver"; cat "$frag"; } | md5sum | cut -c1-10)

src=$cache/linux-source-$srcver
obj=$cache/$arch-linux-$srcver-$key
mkdir -p "$cache"

# One preparer at a time per cache (two checks may start together).
exec 9>"$cache/.lock"
flock 9

if [ ! -e "$src/.extracted" ]; then
	log "extracting $tarball to $src"
	rm -rf "$src" "$src.tmp"; mkdir -p "$src.tmp"
	xz -dc "$tarball" | tar -x -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.extracted"
	mv "$src.tmp" "$src"
fi

if [ ! -e "$obj/.prepared" ]; then
	log "preparing $arch tree in $obj (${pkg:-$defconfig} config + fragment, modules_prepare)"
	rm -rf "$obj"; mkdir -p "$obj"
	kmake() { make -s -C "$src" O="$obj" ARCH="$arch" CROSS_COMPILE="$CROSS_COMPILE" "$@"; }
	tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
	if [ -n "$pkg" ]; then
		[ "$pkgver" = "$srcver" ] || log "note: $pkg is $pkgver, source is $srcver"
		chmod 777 "$tmp"	# apt downloads as its _apt user
		(cd "$tmp" && apt-get download -q "$pkg:$debarch" >/dev/null 2>&1) ||
			die "cannot download $pkg:$debarch"
		dpkg-deb --fsys-tarfile "$tmp"/*.deb |
			tar -x -C "$tmp" --wildcards '*/Module.symvers' '*/.config'
		cp "$tmp"/usr/src/"$pkg"/.config "$obj/.config"
	else
		kmake "$defconfig" >/dev/null
	fi
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$frag" >/dev/null
	kmake olddefconfig >/dev/null
	# merge_config does not fail on a symbol that did not stick: we do.
	while IFS= read -r line; do
		case $line in CONFIG_*=*) ;; *) continue ;; esac
		sym=${line%%=*} want=${line#*=}
		got=$(grep -E "^$sym=" "$obj/.config" | cut -d= -f2 || true)
		# =m asked but =y forced by another option still provides it.
		[ "$got" = "$want" ] || { [ "$want" = m ] && [ "$got" = y ]; } ||
			die "$sym=$want did not stick (got '${got:-unset}')"
	done <"$frag"
	kmake -j"${JOBS:-2}" modules_prepare
	if [ -n "$pkg" ]; then
		cp "$tmp"/usr/src/"$pkg"/Module.symvers "$obj/Module.symvers"
		echo "$pkg $pkgver" >"$obj/Module.symvers.origin"
	else
		echo "none ($defconfig)" >"$obj/Module.symvers.origin"
	fi
	touch "$obj/.prepared"
	# Trees of older keys are dead weight (~100 MB each).
	for old in "$cache/$arch-linux-"*; do
		[ "$old" = "$obj" ] || rm -rf "$old"
	done
fi
echo "$obj"
