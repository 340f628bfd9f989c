#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh: print the path of the phloem debug kernel's object tree
# (bzImage in arch/x86/boot/, Module.symvers for out-of-tree modules),
# building it first when it is not cached yet.
#
# Source: Debian's linux-source-6.1 tarball, extracted once into the same
# cache directory as the arm64 trees (tests/arm64/prepare-kernel.sh).
# Configuration: `make allnoconfig` with debug.config (beside this script)
# as KCONFIG_ALLCONFIG: a minimal x86-64 guest with everything it needs
# built in, plus lockdep (PROVE_LOCKING, PROVE_RAW_LOCK_NESTING),
# DEBUG_ATOMIC_SLEEP, KASAN, kmemleak and debug objects. Every line of the
# fragment must stick, or the build fails here rather than a test passing
# on a kernel that checks nothing.
#
# PREEMPT_RT: Debian's linux-source-6.1 is the plain (non-rt) featureset; it
# ships no linux-patch-*-rt and no debian/patches-rt, and 6.1's x86 does not
# select ARCH_SUPPORTS_RT, so PREEMPT_RT cannot be set. The tree is
# PREEMPT=y with PROVE_RAW_LOCK_NESTING instead, which reports exactly the
# lock nestings that break on RT (a spinlock_t, a sleeping lock on RT, taken
# under a raw_spinlock_t or in hard interrupt context). If a later source
# does carry the rt patches (debian/patches-rt/series in the tarball, or a
# /usr/src/linux-patch-6.1-rt.patch), they are applied and PREEMPT_RT=y is
# required.
#
# Cache: ${PHLOEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phloem}/x86-debug-linux-<version>-<key>,
# keyed by the source package version, the compiler and the fragment. Cold
# cost: about 20 min of two idle cores (estimated from the CPU time per
# object); on a machine shared with other builds (load 10-40) well over an
# hour.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
frag=$here/debug.config
tarball=${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
cache=${PHLOEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phloem}
jobs=${JOBS:-2}

log() { echo "debug-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

[ -r "$tarball" ] || die "$tarball missing (apt-get install linux-source-6.1)"
for t in gcc make bc bison flex; do
	command -v $t >/dev/null || die "$t missing (make deps)"
done
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %Y "$tarball")
ccver=$(gcc -dumpfullversion)
rtpatch=${KERNEL_RT_PATCH:-$(ls /usr/src/linux-patch-6.1-rt*.patch* 2>/dev/null | head -n1 || true)}
key=$( { echo "$srcver x86_64 gcc-$ccver ${rtpatch##*/}"; cat "$frag"; } | md5sum | cut -c1-10)

src=$cache/linux-source-$srcver
obj=$cache/x86-debug-linux-$srcver-$key
mkdir -p "$cache"

# The plain source tree is shared with tests/arm64/prepare-kernel.sh: same
# path, same lock, same marker.
(
	flock 9
	if [ ! -e "$src/.extracted" ]; then
		log "extracting $tarball to $src"
		rm -rf "$src" "$src.tmp"; mkdir -p "$src.tmp"
		xz -dc "$tarball" | tar -x -C "$src.tmp" --strip-components=1
		touch "$src.tmp/.extracted"
		mv "$src.tmp" "$src"
	fi
) 9>"$cache/.lock"

# One builder of the debug tree at a time (two checks may start together).
exec 8>"$cache/.debug.lock"
flock 8

if [ -e "$obj/.built" ]; then
	echo "$obj"
	exit 0
fi

ksrc=$src
rt=0
if [ -e "$src/debian/patches-rt/series" ] || [ -n "$rtpatch" ]; then
	# The rt patches change the source: a private copy, patched.
	ksrc=$obj.src
	rm -rf "$ksrc"; cp -a "$src" "$ksrc"
	if [ -n "$rtpatch" ]; then
		log "applying $rtpatch"
		case $rtpatch in
		*.xz) xz -dc "$rtpatch" ;; *.gz) gzip -dc "$rtpatch" ;; *) cat "$rtpatch" ;;
		esac | patch -d "$ksrc" -p1 -s || die "$rtpatch does not apply"
	else
		log "applying debian/patches-rt"
		while read -r p; do
			case $p in ''|'#'*) continue ;; esac
			patch -d "$ksrc" -p1 -s < "$ksrc/debian/patches-rt/$p" || die "patches-rt/$p does not apply"
		done < "$ksrc/debian/patches-rt/series"
	fi
	rt=1
fi

start=$(date +%s)
log "building in $obj (allnoconfig + $(basename "$frag")$([ $rt = 1 ] && echo ' + PREEMPT_RT'), -j$jobs; cold: about 20 min of two idle cores, over an hour on a busy machine)"
# A tree of another key (an older fragment, say) is taken over rather than
# thrown away: after the new configuration Kbuild rebuilds only what it
# changes.
if [ ! -d "$obj" ]; then
	for old in "$cache/x86-debug-linux-$srcver-"*; do
		case $old in *.src) continue ;; esac
		[ -d "$old" ] && [ $rt = 0 ] && { log "reusing $old"; mv "$old" "$obj"; break; }
	done
fi
mkdir -p "$obj"
rm -f "$obj/.config" "$obj/.built"
allconfig=$obj/.allconfig
cp "$frag" "$allconfig"
if [ $rt = 1 ]; then
	printf '%s\n' CONFIG_EXPERT=y CONFIG_PREEMPT_RT=y '# CONFIG_PREEMPT is not set' >> "$allconfig"
fi
kmake() { make -C "$ksrc" O="$obj" ARCH=x86_64 "$@"; }
kmake -s allnoconfig KCONFIG_ALLCONFIG="$allconfig" >"$obj/config.log" 2>&1 ||
	{ cat "$obj/config.log" >&2; die "allnoconfig failed"; }

# KCONFIG_ALLCONFIG does not fail on a symbol that did not stick: we do.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) sym=${line%%=*} want=${line#*=} ;;
	'# CONFIG_'*' is not set') sym=${line#\# } sym=${sym%% *} want= ;;
	*) continue ;;
	esac
	got=$(sed -n "s/^$sym=//p" "$obj/.config")
	if [ "$got" != "$want" ]; then
		log "$sym=${want:-n} did not stick (got '${got:-unset}')"
		bad=1
	fi
done < "$allconfig"
[ $bad = 0 ] || die "configuration incomplete; fix $(basename "$frag")"

if ! kmake -j"$jobs" >"$obj/build.log" 2>&1; then
	tail -n 40 "$obj/build.log" >&2
	die "build failed (log: $obj/build.log)"
fi
[ -s "$obj/arch/x86/boot/bzImage" ] && [ -e "$obj/Module.symvers" ] ||
	die "build left no bzImage or Module.symvers"
echo "$srcver $(basename "$frag") $([ $rt = 1 ] && echo PREEMPT_RT || echo PREEMPT) $(( $(date +%s) - start ))s" > "$obj/.built"
log "built in $(( $(date +%s) - start ))s"
# Trees of older keys are dead weight (~1 GB each with KASAN objects).
for old in "$cache/x86-debug-linux-"*; do
	case $old in "$obj"|"$obj.src") ;; *) rm -rf "$old" ;; esac
done
echo "$obj"
