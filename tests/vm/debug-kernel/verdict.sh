#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# verdict.sh RAW: the debug kernel's verdict on a kselftest run (the
# runner's --out file), as TAP on stdout.
#
# On the debug kernel (lockdep, KASAN, kmemleak, debug objects) under QEMU
# software emulation the sampler cannot keep its 4 kHz: every access is
# instrumented, so the suite's timing assertions (a device settling within
# 20 s, a shed within a cycle) fail for reasons that say nothing about the
# code. The suite runs there for what the debug kernel checks while it
# drives every path: the runner's own lines ("ok - vm: kernel log clean",
# "kmemleak", "rmmod", "guest finished") are the verdict. The suite's own
# results are kept as comments; they are judged on the production kernel
# (check-vm). Exit 1 when a runner line is "not ok" or the guest did not
# report that it finished.
raw=${1:?usage: verdict.sh RAW}
[ -r "$raw" ] || { echo "not ok - check-vm-debug: no output from the VM run"; exit 1; }
sed -E 's/^((not )?ok [0-9]+ .*)$/# suite (timing not judged on the debug kernel): \1/' "$raw"
grep -q '^ok - vm: guest finished' "$raw" || { echo "not ok - vm: guest finished"; exit 1; }
grep -q '^ok - vm: kernel log clean' "$raw" || exit 1
! grep -q '^not ok - ' "$raw"
