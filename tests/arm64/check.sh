#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh: cross-build phloem for the gateway's architecture and check the
# result, as TAP. Called by `make check-arm64` with, in the environment:
#   TOP        the repository
#   OUT        a scratch directory for this check (under $(BUILD))
#   MAKE       the make to run sub-builds with
#   JOBS       parallel jobs for sub-builds (2 on the shared machine)
#
# 1. the modules, against an arm64 tree (prepare-kernel.sh says which):
#    any compiler or modpost warning fails the check, and modpost resolves
#    every symbol against the arm64 kernel's exports. A second build with
#    W=1 reports its extra warnings (kernel-doc, mostly) without failing;
# 2. the same sources for 32-bit ARM (multi_v7_defconfig): no compiler
#    warning (32-bit catches size_t/long format and truncation mistakes),
#    and no 64-bit '/' or '%' in kernel code, which would become a call to
#    libgcc's __aeabi_uldivmod that the kernel does not have (an nm scan).
#    This is "32-bit safe division", checked rather than reviewed;
# 3. every struct of the UAPI header has the same sizes and member offsets
#    on x86_64, i386, arm64 and 32-bit ARM (uapi_layout.py), so records and
#    ioctls mean the same to a 32-bit userspace on a 64-bit kernel;
# 4. the agent's binaries with aarch64-linux-gnu-gcc against the Debian
#    multiarch :arm64 libraries;
# and every output is checked to be an ELF file for the right machine.
#
# Kbuild's M= builds in the source directory, and the x86 build (that the VM
# tests load) lives there: so the module sources are copied to $OUT first.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
: "${TOP:?}" "${OUT:?}" "${MAKE:=make}" "${JOBS:=2}"

# elf_machine FILE: the e_machine of an ELF file, as readelf names it.
elf_machine() { LC_ALL=C readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'; }

# kbuild ARCH CROSS KDIR DIR [ARGS]: build the modules copied to DIR; the
# log is kept in DIR/build.log.
kbuild() {
	local arch=$1 cross=$2 kdir=$3 dir=$4; shift 4
	rm -rf "$dir"; mkdir -p "$dir"
	cp -a "$TOP/Kbuild" "$TOP/kernel" "$TOP/uapi" "$dir/"
	# A stale x86 object copied along would be linked in as is.
	find "$dir" \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' \
		-o -name modules.order -o -name Module.symvers \) -delete
	$MAKE -C "$kdir" M="$dir" ARCH="$arch" CROSS_COMPILE="$cross" "$@" \
		-j"$JOBS" modules >"$dir/build.log" 2>&1
}

# no_warnings LOG: compiler and modpost warnings both count.
no_warnings() {
	if grep -nE 'warning:|WARNING:' "$1"; then return 1; fi
}

# no_compiler_warnings LOG: for the 32-bit tree, which has no
# Module.symvers: modpost's notes about unresolved symbols are expected
# there (arm64 resolves them), anything else is not.
no_compiler_warnings() {
	if grep -nE 'warning:|WARNING:' "$1" |
	   grep -vE 'WARNING: (modpost: "[^"]+" \[[^]]*\] undefined!|modpost: suppressed [0-9]+ unresolved|Module\.symvers is missing)'; then
		return 1
	fi
}

tap_check "cross toolchain and :arm64 libraries installed" "$here/deps.sh" || true

# --- arm64 modules -----------------------------------------------------------
if kdir64=$("$here/prepare-kernel.sh" arm64 2>"$OUT.prep64.log"); then
	tap_ok "arm64 kernel tree prepared ($(basename "$kdir64"), symbols: $(cat "$kdir64/Module.symvers.origin"))"
	if kbuild arm64 aarch64-linux-gnu- "$kdir64" "$OUT/mod-arm64"; then
		tap_ok "modules build for arm64"
	else
		tap_fail "modules build for arm64" "$(grep -E 'error|ERROR|undefined' "$OUT/mod-arm64/build.log" | head -n 20)"
	fi
	if no_warnings "$OUT/mod-arm64/build.log" >"$OUT/warn64"; then
		tap_ok "arm64 module build has no warnings"
	else
		tap_fail "arm64 module build has no warnings" "$(head -n 20 "$OUT/warn64")"
	fi
	kos=$(cd "$OUT/mod-arm64" && find . -name '*.ko' | sort)
	for ko in kernel/phloem.ko kernel/sim/phloem_sim.ko; do
		m=$(elf_machine "$OUT/mod-arm64/$ko")
		if [ "$m" = AArch64 ] && file -b "$OUT/mod-arm64/$ko" | grep -q 'ARM aarch64'; then
			tap_ok "$ko is an AArch64 module"
		else
			tap_fail "$ko is an AArch64 module" "machine: '${m:-no such file}'" "built: ${kos:-none}"
		fi
	done
	v=$(modinfo -F vermagic "$OUT/mod-arm64/kernel/phloem.ko" 2>/dev/null | cut -d' ' -f1)
	want=$(cat "$kdir64/include/config/kernel.release")
	if [ -n "$v" ] && [ "$v" = "$want" ]; then
		tap_ok "phloem.ko vermagic is the arm64 tree's release ($v)"
	else
		tap_fail "phloem.ko vermagic is the arm64 tree's release" "vermagic: '${v:-none}', tree: '$want'"
	fi
	# W=1: reported, not failed, until the tree is clean at that level.
	kbuild arm64 aarch64-linux-gnu- "$kdir64" "$OUT/mod-arm64-w1" W=1
	n=$(grep -cE 'warning:|WARNING:' "$OUT/mod-arm64-w1/build.log")
	if [ "$n" -eq 0 ]; then
		tap_ok "arm64 module build with W=1 has no warnings"
	else
		tap_skip "arm64 module build with W=1: $n warnings" "W=1 not clean yet; see $OUT/mod-arm64-w1/build.log"
		grep -E 'warning:|WARNING:' "$OUT/mod-arm64-w1/build.log" | sed "s|$OUT/mod-arm64-w1/||" |
			sort | uniq | head -n 10 | sed 's/^/#   /'
	fi
else
	tap_fail "arm64 kernel tree prepared" "$(tail -n 20 "$OUT.prep64.log")"
fi

# --- 32-bit ARM modules: division helpers ------------------------------------
if ! command -v arm-linux-gnueabihf-gcc >/dev/null; then
	tap_skip "modules build for 32-bit ARM" "arm-linux-gnueabihf-gcc not installed"
elif kdir32=$("$here/prepare-kernel.sh" arm 2>"$OUT.prep32.log"); then
	tap_ok "arm kernel tree prepared ($(basename "$kdir32"), symbols: $(cat "$kdir32/Module.symvers.origin"))"
	if kbuild arm arm-linux-gnueabihf- "$kdir32" "$OUT/mod-arm"; then
		tap_ok "modules build for 32-bit ARM"
	else
		tap_fail "modules build for 32-bit ARM" \
			"$(grep -E 'error|ERROR|undefined' "$OUT/mod-arm/build.log" | head -n 20)"
	fi
	if no_compiler_warnings "$OUT/mod-arm/build.log" >"$OUT/warn32"; then
		tap_ok "32-bit ARM module build has no warnings"
	else
		tap_fail "32-bit ARM module build has no warnings" "$(head -n 20 "$OUT/warn32")"
	fi
	# A 64-bit '/' or '%' compiles to a call of libgcc's helper, which the
	# kernel does not export: the module would not load. Look for it.
	bad=$(cd "$OUT/mod-arm" && find . -name '*.o' ! -name '*.mod.o' | while read -r o; do
		arm-linux-gnueabihf-nm -u "$o" | grep -E '__aeabi_u?ldivmod|__u?(div|mod)di3' |
			sed "s|^|$o: |"
	done)
	if [ -z "$bad" ] && [ -n "$(find "$OUT/mod-arm" -name '*.o')" ]; then
		tap_ok "no 64-bit division through libgcc in kernel objects (use div_u64 and friends)"
	else
		tap_fail "no 64-bit division through libgcc in kernel objects (use div_u64 and friends)" \
			"${bad:-no objects were built}"
	fi
else
	tap_fail "arm kernel tree prepared" "$(tail -n 20 "$OUT.prep32.log")"
fi

# --- UAPI layout ----------------------------------------------------------------
python3 "$here/uapi_layout.py" "$TOP" "$OUT/uapi" $((tap_n + 1)) >"$OUT/uapi.tap" 2>&1
cat "$OUT/uapi.tap"
tap_n=$((tap_n + $(grep -cE '^(not )?ok ' "$OUT/uapi.tap")))
tap_failed=$((tap_failed + $(grep -c '^not ok ' "$OUT/uapi.tap")))

# --- agent -------------------------------------------------------------------
# mk/agent.mk names its programs in AGENT_BINS; the top Makefile builds them
# for arm64 with BUILD pointed elsewhere, so nothing x86 is overwritten.
agent_build=$OUT/agent
# pkg-config must see only the :arm64 .pc files. Set in the environment:
# make 4.3 does not pass command-line variables to $(shell ...).
amake() {
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
	$MAKE --no-print-directory -C "$TOP" BUILD="$agent_build" \
		CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar PKG_CONFIG=pkg-config \
		"$@"
}
bins=$(amake -s print-agent-bins 2>/dev/null)
if [ -z "$bins" ]; then
	tap_skip "agent cross-builds for arm64" "no agent binaries defined yet (AGENT_BINS)"
else
	if amake -j"$JOBS" agent-bins >"$OUT/agent.log" 2>&1; then
		tap_ok "agent cross-builds for arm64 ($(for b in $bins; do basename "$b"; done | tr '\n' ' '))"
	else
		tap_fail "agent cross-builds for arm64" "$(grep -E 'error:|\*\*\*' "$OUT/agent.log" | head -n 20)"
	fi
	if no_warnings "$OUT/agent.log" >"$OUT/warnagent"; then
		tap_ok "agent cross-build has no warnings"
	else
		tap_fail "agent cross-build has no warnings" "$(head -n 20 "$OUT/warnagent")"
	fi
	for b in $bins; do
		m=$(elf_machine "$b")
		if [ "$m" = AArch64 ] && file -b "$b" | grep -q 'ARM aarch64'; then
			tap_ok "$(basename "$b") is an AArch64 executable"
		else
			tap_fail "$(basename "$b") is an AArch64 executable" "machine: '${m:-no such file}'"
		fi
	done
fi
tap_done
