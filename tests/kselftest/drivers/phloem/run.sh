#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [BINDIR]: run every phloem selftest program in BINDIR (default:
# this directory) one after the other and print their TAP. Needs root,
# phloem.ko bound to phloem_sim.ko (/dev/phloem0) and debugfs mounted;
# programs skip (kselftest code 4) when the device is absent.
#
# A program that dies without reporting its own failure (a crash, the
# harness timing out) still gets a "not ok" line, so a summary that only
# counts TAP lines cannot miss it.
dir=${1:-$(dirname "$0")}
progs="phloem_ioctl phloem_stream phloem_shed phloem_stress phloem_bind phloem_netlink phloem_freq phloem_signal phloem_phase phloem_mains phloem_mains_dt"
rc=0
for p in $progs; do
	echo "# ---- $p ----"
	out=$(mktemp)
	"$dir/$p" 2>&1 | tee "$out"
	st=${PIPESTATUS[0]}
	if [ "$st" -ne 0 ] && [ "$st" -ne 4 ] && ! grep -q '^not ok ' "$out"; then
		echo "not ok - $p: exited with status $st"
	fi
	[ "$st" -ne 0 ] && [ "$st" -ne 4 ] && rc=1
	rm -f "$out"
done
# Shell tests live beside this script (not built into BINDIR)
for t in phloem_policy.sh; do
	echo "# ---- $t ----"
	"$(dirname "$0")/$t"
	st=$?
	[ "$st" -ne 0 ] && [ "$st" -ne 4 ] && rc=1
done
exit $rc
