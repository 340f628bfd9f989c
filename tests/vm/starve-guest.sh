#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# starve-guest.sh BENCH [ROUNDS [TRACE]]: the guest side of the starvation suite
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
#
# The garage is given a D-curve breaker (phloem_sim curve=), and a round
# starts only once its I2t model is under 20 % of the trip budget
# (phloem_bench -c 200). On the house's B curve, every step from 3x is in
# the magnetic region, where the model spends its whole budget in 100 ms:
# at a round a second the model heats faster than it cools, and its
# thermal rule then holds the garage's relays off for tens of seconds, as
# it should (runs 4 and 5 of docs/shedding.md, "Starvation"). This suite
# is about the instantaneous rule; on a D curve its steps, up to 6x, are in
# the thermal region, and the wait is for the rounds that heat it anyway.
set -u
bench=${1:?usage: starve-guest.sh BENCH [ROUNDS [TRACE]]}
rounds=${2:-250}
trace=${3:-0}
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
	"$bench" -n "$rounds" -m $mults -i 110 -s 10 -w 30 -e 2000 -c 200 \
		${topt:+"$topt"} -t "starve: $name" "$@" 2>&1 |
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

# TRACE 1 (make check-starve STARVE_TRACE=1): each late shed is printed set
# by set from phloem.ko's tracepoints (phloem_bench -T): the sets' times
# and the voltage's and the garage's raw reads. Off by default: tracing
# costs the sampler time, and this suite is about a sampler short of it.
topt=
trace_on() {
	local t=/sys/kernel/tracing
	mountpoint -q $t || mount -t tracefs tracefs $t || return 1
	echo 4096 > $t/buffer_size_kb &&
	echo 'channel == 0 || channel == 3' > $t/events/phloem/phloem_adc_read/filter &&
	echo 1 > $t/events/phloem/phloem_adc_read/enable &&
	echo 1 > $t/events/phloem/phloem_sample/enable &&
	echo 1 > $t/tracing_on
}

# The simulated HAT again, its garage on a D-curve breaker. The trace
# buffer is resized while no HAT is bound: a resize waits for a worker on
# each CPU, and a SCHED_FIFO sampler that cannot keep up leaves them
# little time (perhaps where a traced run beside two more CPU-bound loads
# stopped; it printed nothing after its plan).
garage_d() {
	local i
	rmmod phloem_sim || return 1
	if [ "$trace" = 1 ]; then
		trace_on || { echo "Bail out! phloem tracepoints not enabled"; exit 1; }
		topt=-T
		echo "# late sheds traced (phloem_sample, phloem_adc_read of channels 0 and 3)"
	fi
	insmod "${PHLOEM_SIM_KO:?}" curve=,,D || return 1
	for i in $(seq 50); do
		[ -c /dev/phloem0 ] && [ -d $sim ] && return 0
		sleep 0.1
	done
	return 1
}

echo "1..5"
echo "# reloading phloem_sim with curve=,,D"
garage_d || { echo "Bail out! phloem_sim not reloaded with curve=,,D"; exit 1; }
knobs 0 0 0
echo "# the simulator's step against a later write"
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
