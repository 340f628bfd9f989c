#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [--timeout SEC] [--modules] [--out FILE] [--console FILE] -- CMD...
#
# Boot Debian's PREEMPT_RT kernel under QEMU (TCG: nested KVM hangs on these
# machines, see ../shared/notes/test-vm.md) with the host's root shared
# read-only over 9p, run CMD as root in the repository directory, and fail
# when CMD fails, when the guest does not finish within SEC seconds, or when
# the guest's kernel log shows an oops, WARN, BUG or lockdep splat.
#
#   --modules      modprobe mcp320x, insmod kernel/phloem.ko and
#                  kernel/sim/phloem_sim.ko before CMD (build them first)
#   --out FILE     CMD's stdout+stderr, followed by TAP lines for the VM's
#                  own checks (kernel log clean, guest finished), so a make
#                  target can count a splat or a timeout as a failure
#   --console FILE the whole serial console (kernel messages included)
#
# The guest sees the host's root read-only, with fresh tmpfs at /tmp and
# /run: CMD and its files must live elsewhere (the repository, build/). Exit status: CMD's, or 124 on timeout, 125 when the VM could
# not be set up, 1 on a kernel splat after a successful CMD.
#
# VMs are run one at a time per machine (flock on /tmp/phloem-vm.lock;
# PHLOEM_VM_PARALLEL=1 skips it); the timeout starts once the VM starts.
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VMDIR=${BUILD:-$TOP/build}/vm
timeout=300
modules=0
out=
console=

usage() {
	sed -n '3,/^set -u/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' -e '/^set -u/d' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout=${2:?}; shift 2 ;;
	--modules) modules=1; shift ;;
	--out) out=${2:?}; shift 2 ;;
	--console) console=${2:?}; shift 2 ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
done
[ $# -gt 0 ] || { echo "run.sh: no command given" >&2; usage; }
case $timeout in ''|*[!0-9]*) echo "run.sh: --timeout wants seconds" >&2; exit 2 ;; esac

# The newest installed rt kernel with both an image and modules.
kver=
for d in $(ls -d /lib/modules/*-rt-amd64 2>/dev/null | sort -V); do
	k=${d#/lib/modules/}
	[ -r "/boot/vmlinuz-$k" ] && kver=$k
done
if [ -z "$kver" ]; then
	echo "run.sh: no /boot/vmlinuz-*-rt-amd64 with modules; run 'make deps'" >&2
	exit 125
fi
kernel=/boot/vmlinuz-$kver
for t in qemu-system-x86_64 cpio; do
	command -v $t >/dev/null || { echo "run.sh: $t missing; run 'make deps'" >&2; exit 125; }
done
[ -x /bin/busybox ] || { echo "run.sh: /bin/busybox missing (busybox-static)" >&2; exit 125; }

mkdir -p "$VMDIR" || exit 125

# The initramfs only depends on the kernel version and on init.sh/run.sh;
# it is rebuilt when either changes and shared by concurrent runs (built
# under a temporary name and renamed, so a reader never sees half a file).
initrd=$VMDIR/initramfs-$kver.cpio.gz
if [ ! -s "$initrd" ] || [ "$TOP/tests/vm/init.sh" -nt "$initrd" ] ||
   [ "${BASH_SOURCE[0]}" -nt "$initrd" ]; then
	stage=$(mktemp -d "$VMDIR/initramfs.XXXXXX") || exit 125
	mkdir -p "$stage"/{bin,proc,sys,dev,modules,newroot}
	cp /bin/busybox "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	cp "$TOP/tests/vm/init.sh" "$stage/init"
	: > "$stage/modules.order"
	for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
		 virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
		modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++' | while read -r ko; do
		name=$(basename "$ko")
		case $ko in
		*.xz) xz -dc "$ko" > "$stage/modules/${name%.xz}"; name=${name%.xz} ;;
		*.zst) zstd -qdc "$ko" > "$stage/modules/${name%.zst}"; name=${name%.zst} ;;
		*) cp "$ko" "$stage/modules/$name" ;;
		esac
		echo "$name" >> "$stage/modules.order"
	done
	if [ "$(wc -l < "$stage/modules.order")" -lt 10 ]; then
		echo "run.sh: could not resolve the 9p modules of $kver" >&2
		rm -rf "$stage"; exit 125
	fi
	(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
		gzip -1 > "$stage.cpio.gz" && mv "$stage.cpio.gz" "$initrd"
	rm -rf "$stage"
fi

run=$(mktemp -d "$VMDIR/run.XXXXXX") || exit 125
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command is handed over as a script in the writable share: no quoting
# limits of the kernel command line, any arguments survive as given.
{
	echo "cd $(printf %q "$TOP") || exit 126"
	if [ $modules = 1 ]; then
		cat <<-'EOS'
		modprobe mcp320x || { echo "vm: modprobe mcp320x failed"; exit 125; }
		insmod kernel/phloem.ko || { echo "vm: insmod kernel/phloem.ko failed"; exit 125; }
		insmod kernel/sim/phloem_sim.ko || { echo "vm: insmod kernel/sim/phloem_sim.ko failed"; exit 125; }
		EOS
	fi
	printf '%q ' "$@"; echo
} > "$run/cmd"
# the guest's own watchdog fires this long after boot (see init.sh)
echo $(( timeout > 40 ? timeout - 20 : timeout / 2 )) > "$run/watchdog"
chmod -R a+rwX "$run"

# One VM at a time on this machine: each takes both cores (-smp 2 under
# TCG), and two or more at once starve the guests' samplers, which turns
# timing checks into noise. Set PHLOEM_VM_PARALLEL=1 to skip the queue.
if [ "${PHLOEM_VM_PARALLEL:-0}" != 1 ]; then
	lock=${PHLOEM_VM_LOCK:-/tmp/phloem-vm.lock}
	exec 9>>"$lock"
	if ! flock -n 9; then
		echo "run.sh: waiting for another test VM to finish ($lock)" >&2
		if ! flock -w "${PHLOEM_VM_LOCK_WAIT:-1800}" 9; then
			echo "run.sh: gave up waiting for $lock" >&2
			exit 125
		fi
	fi
fi

start=$(date +%s)
# -no-reboot + panic=-1: a panicking guest exits QEMU at once instead of
# waiting for the hard timeout. stdin is closed so QEMU never grabs a tty.
timeout -k 10 "$timeout" qemu-system-x86_64 \
	-accel tcg -cpu max -m 1G -smp 2 -nographic -no-reboot -nic none \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init phloem.top=$TOP" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$run",mount_tag=vmrun,security_model=none \
	< /dev/null 9>&- 2>&1 | tr -d '\r' | tee "$run/console"
qrc=${PIPESTATUS[0]}
elapsed=$(( $(date +%s) - start ))

[ -n "$console" ] && cp "$run/console" "$console"

rc=$(sed -n 's/^PHLOEM-VM-EXIT: \([0-9]*\).*/\1/p' "$run/console" | tail -n1)
verdict=
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	verdict="timeout after ${timeout}s"
	rc=124
elif [ -z "$rc" ]; then
	verdict="guest died before reporting (qemu status $qrc)"
	rc=125
fi

# The guest dumps dmesg at the end; when it never got there (panic, hang)
# the console still carries what the kernel printed at loglevel <= 4.
log=$run/dmesg
[ -s "$log" ] || log=$run/dmesg.watchdog
[ -s "$log" ] || log=$run/console
splat=$(grep -nE 'Oops|WARNING:|BUG:|lockdep|possible circular locking|Call Trace' "$log" | head -n 20)

{
	[ -f "$run/out" ] && cat "$run/out"
	if [ -n "$splat" ]; then
		echo "not ok - vm: kernel log clean (splat found, see console)"
		echo "$splat" | sed 's/^/# /'
	else
		echo "ok - vm: kernel log clean"
	fi
	if [ -n "$verdict" ]; then
		echo "not ok - vm: guest finished ($verdict)"
	else
		echo "ok - vm: guest finished in ${elapsed}s"
	fi
} > "$run/tap"
[ -n "$out" ] && { mkdir -p "$(dirname "$out")"; cp "$run/tap" "$out"; }

echo "---- vm: kernel $kver, ${elapsed}s wall, command status ${rc} ----"
if [ "$log" != "$run/console" ] && { [ -n "$splat" ] || [ -n "$verdict" ]; }; then
	echo "---- vm: guest kernel log ($(basename "$log")) ----"
	cat "$log"
fi
[ -n "$console" ] && [ -s "$run/dmesg.watchdog" ] && cp "$run/dmesg.watchdog" "$console.dmesg"
if [ -n "$splat" ]; then
	echo "vm: FAIL: kernel log has a splat:"
	echo "$splat"
	[ "$rc" = 0 ] && rc=1
fi
[ -n "$verdict" ] && echo "vm: FAIL: $verdict"
[ "$rc" = 0 ] && echo "vm: PASS" || echo "vm: FAIL (status $rc)"
exit "$rc"
