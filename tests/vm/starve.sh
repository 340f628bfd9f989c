#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# starve.sh OUT.tap BENCH [ROUNDS]: the starvation suite (make check-starve).
#
# Runs tests/vm/starve-guest.sh in the test VM (tests/vm/run.sh, phloem.ko
# bound to phloem_sim.ko) while a CPU-bound process spins on the host
# beside QEMU, so the emulated CPUs get less than their share, as on a
# loaded gateway. We take the VM queue's lock ourselves first (and tell
# run.sh so), so the hog only runs beside our own VM, never beside another
# helper's; it is killed by its own pid at the end, and a timeout ends it
# anyway should this script be killed hard.
set -u
out=${1:?usage: starve.sh OUT.tap BENCH [ROUNDS]}
bench=${2:?usage: starve.sh OUT.tap BENCH [ROUNDS]}
rounds=${3:-250}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
hog=

cleanup() {
	[ -n "$hog" ] && kill "$hog" 2>/dev/null && wait "$hog" 2>/dev/null
	hog=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${PHLOEM_VM_PARALLEL:-0}" != 1 ]; then
	lock=${PHLOEM_VM_LOCK:-/tmp/phloem-vm.lock}
	exec 9>>"$lock"
	if ! flock -n 9; then
		echo "starve.sh: waiting for another test VM to finish ($lock)" >&2
		flock -w "${PHLOEM_VM_LOCK_WAIT:-1800}" 9 ||
			{ echo "starve.sh: gave up waiting for $lock" >&2; exit 125; }
	fi
fi

timeout 1200 sh -c 'while :; do :; done' 9>&- &
hog=$!
echo "# starve: host CPU hog (pid $hog) beside QEMU"

PHLOEM_VM_PARALLEL=1 "$TOP/tests/vm/run.sh" --timeout "${STARVE_TIMEOUT:-720}" \
	--modules --out "$out" -- "$TOP/tests/vm/starve-guest.sh" "$bench" "$rounds" \
	"${STARVE_TRACE:-0}"
