#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# starve-guest.sh BENCH [ROUNDS]: the guest side of the starvation suite
# (tests/vm/starve.sh runs it in the VM with phloem.ko bound to the sim,
# beside a CPU hog on the host). Four phases of ROUNDS step overloads each
# (default 250), from 1.25x to 6x a 5 A limit (instantaneous rule at 110 %,
# so every multiple is an instantaneous overload), one TAP line per phase,
# after a check of the simulator (a step armed before a write of the same
# load does not land after it):
#
#   loaded      the host busy, nothing else
#   slow-adc    every conversion 100..300 us late (the sampler falls to
#               about a third of its 4 kHz)
#   lost-reads  0.5 % of conversions fail (-EIO), 0..50 us jitter
#   low-rate    1 kHz sampling, conversions 0..300 us late
#
# A phase passes with 0 missed: every overload shed (within one mains cycle
# of signal time from 1.5x), or the failsafe entered and reported. stale_ms
# is 10: a guest that stops sampling for more than half a cycle (the host
# did not run it) is in failsafe, relays safe, and says so.
set -u
bench=${1:?usage: starve-guest.sh BENCH [ROUNDS]}
rounds=${2:-250}
sim=/sys/kernel/debug/phloem_sim/hat0
mults=1.25,1.5,2,3,4,6
rc=0

knobs() {
	echo "$1" > $sim/adc_delay_us
	echo "$2" > $sim/adc_jitter_us
	echo "$3" > $sim/adc_lost_ppm
}

phase() {
	local name=$1; shift
	echo "# ---- $name ----"
	"$bench" -n "$rounds" -m $mults -i 110 -s 10 -w 30 -e 2000 -t "starve: $name" "$@" 2>&1 |
		sed -e '/^\(not \)\{0,1\}ok /!s/^/# /'
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
}

# A round that ends in failsafe takes its step load off with a write of
# load_ma 0. When no conversion ran between the step's arming and that
# write (the sampler stalled: the very reason for the failsafe), the armed
# step used to land after the write, at the next conversion, and the
# heater came back from failsafe carrying it: an overload right after the
# leave. The stall knob holds conversions off while we write.
step_race() {
	local v
	echo 1 > $sim/stall
	sleep 0.1
	echo 4321 > $sim/relay1/step_load_ma
	echo 0 > $sim/relay1/step_in_ms
	echo 0 > $sim/relay1/load_ma
	v=$(cat $sim/relay1/load_ma)
	echo 0 > $sim/stall
	if [ "$v" = 0 ]; then
		echo "ok - starve: a load written after a due step stays written"
	else
		echo "not ok - starve: a load written after a due step stays written (load_ma $v)"
		rc=1
	fi
	sleep 0.5	# the unit leaves the failsafe of the stall
}

echo "1..5"
knobs 0 0 0
step_race
phase loaded
knobs 100 200 0
phase slow-adc
knobs 0 50 5000
phase lost-reads
knobs 0 300 0
phase low-rate -r 1000
knobs 0 0 0
exit $rc
