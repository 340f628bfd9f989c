#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# sim-vm.sh: phloem_sim.ko in a real kernel, through the real drivers.
# Run as root inside the test VM (tests/vm/run.sh -- tests/sim/sim-vm.sh);
# it loads and unloads the modules itself and prints TAP.
#
#   debugfs hat<N>/ --> model --> emulated SPI controller --> mcp320x (IIO)
#                        ^                                     |
#   sysfs gpio / phloem.ko --> relay gpio_chip (time-stamped)   v
#                                                    in_voltageK_raw
#
# Expected amplitudes come from the small-house topology (docs/sim.md):
# peak LSB = RMS * sqrt(2) / scale, around the bias 2048.
# No "set -u": a missing value must fail its check, not end the run.
cd "$(dirname "$0")/../.." || exit 1

SIM=kernel/sim/phloem_sim.ko
DRV=kernel/phloem.ko
DBG=/sys/kernel/debug/phloem_sim
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check DESC CMD...: one TAP line from CMD's status.
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
diag() { echo "# $*"; }
not() { ! "$@"; }

if [ "$(id -u)" != 0 ] || [ ! -d /sys/kernel/debug ] || [ ! -r $SIM ]; then
	echo "1..0 # SKIP needs root in the test VM and a built $SIM"
	exit 4
fi

# Monotonic-ish clock in ns from /proc/uptime (10 ms resolution).
uptime_ns() { local u; read -r u _ < /proc/uptime; echo $(( 10#${u/./} * 10000000 )); }

iio_of() {	# iio device of hat $1
	local d
	for d in /sys/bus/iio/devices/iio:device*; do
		case $(readlink -f "$d") in */phloem-sim.$1/*) echo "$d"; return 0 ;; esac
	done
	return 1
}

gpio_base_of() {	# sysfs gpio base of hat $1's relay chip
	local c
	for c in /sys/class/gpio/gpiochip*; do
		[ "$(cat "$c/label")" = "phloem-sim-relays.$1" ] && { cat "$c/base"; return 0; }
	done
	return 1
}

# samples FILE COUNT: "min max" of COUNT reads (bash builtin read: no fork,
# so the reads spread over a few mains cycles).
samples() {
	local f=$1 cnt=$2 v min=99999 max=-1 i
	for ((i = 0; i < cnt; i++)); do
		read -r v < "$f" || return 1
		((v < min)) && min=$v
		((v > max)) && max=$v
	done
	echo "$min $max"
}

# wave FILE PEAK: every sample within 2048 +- (PEAK + 2) and the spread
# covers at least one PEAK (so a flat or clipped line fails).
wave() {
	local f=$1 peak=$2 mm
	mm=$(samples "$f" 80) || return 1
	set -- $mm
	diag "$f: min $1 max $2, want 2048 +- $peak"
	(($1 >= 2048 - peak - 2 && $2 <= 2048 + peak + 2 && $2 - $1 >= peak))
}

flat() {	# every sample exactly at the bias
	local mm
	mm=$(samples "$1" 20) || return 1
	[ "$mm" = "2048 2048" ]
}

wr() { echo "$2" > "$1" 2>/dev/null; }		# status of a debugfs write
rd() { local v; read -r v < "$1" && echo "$v"; }
refused() { ! wr "$1" "$2" && [ "$(rd "$1")" = "$3" ]; }

# --- load -------------------------------------------------------------
check "insmod hats=0 is refused" not insmod $SIM hats=0 2>/dev/null
check "insmod hats=5 is refused" not insmod $SIM hats=5 2>/dev/null
check "insmod curve=,,E is refused" not insmod $SIM curve=,,E 2>/dev/null
check "insmod curve=,,DD is refused" not insmod $SIM curve=,,DD 2>/dev/null
check "modprobe mcp320x" modprobe mcp320x
check "insmod phloem_sim hats=2" insmod $SIM hats=2

I0=$(iio_of 0); I1=$(iio_of 1)
check "hat0 and hat1 each have an IIO device" test -n "$I0" -a -n "$I1"
check "mcp320x bound them as mcp3208" \
	test "$(cat "$I0/name" "$I1/name" | tr '\n' ' ')" = "mcp3208 mcp3208 "
check "phloem.0 carries software node phloem-sim-hat0" \
	test "$(basename "$(readlink /sys/bus/platform/devices/phloem.0/software_node)")" = phloem-sim-hat0
check "phloem.1 carries software node phloem-sim-hat1" \
	test "$(basename "$(readlink /sys/bus/platform/devices/phloem.1/software_node)")" = phloem-sim-hat1
check "software nodes channel@0..4, circuit@0..3, relay@0..7" \
	test "$(ls -d /sys/kernel/software_nodes/phloem-sim-hat0/*@* | wc -l)" = 17
H=$DBG/hat0

# --- signal -----------------------------------------------------------
check "v0: 230 V at 200 mV/LSB is 2048 +- 1626" wave "$I0/in_voltage0_raw" 1626
check "idle CTs read the bias" eval 'flat $I0/in_voltage1_raw && flat $I0/in_voltage2_raw && flat $I0/in_voltage3_raw && flat $I0/in_voltage4_raw'
check "unwired inputs 5..7 read the bias" eval 'flat $I0/in_voltage5_raw && flat $I0/in_voltage6_raw && flat $I0/in_voltage7_raw'
mm=$(samples "$I0/in_voltage0-voltage1_raw" 80)
diag "v0 - i0 (pseudo-differential): $mm"
check "differential v0-i0 keeps the positive half only" eval 'set -- $mm; (($1 == 0 && $2 > 800 && $2 <= 1628))'

check "ch2/rms = 10 A" wr $H/ch2/rms 10000
check "kitchen CT: 10 A at 70 mA/LSB is 2048 +- 202" wave "$I0/in_voltage2_raw" 202
check "site CT sees it: 2048 +- 83" wave "$I0/in_voltage1_raw" 83
check "hat1 is independent (its kitchen CT idle)" flat "$I1/in_voltage2_raw"
check "vrms_mv = 115 V" wr $H/vrms_mv 115000
check "ch0/rms aliases vrms_mv" test "$(rd $H/ch0/rms)" = 115000
check "v0 follows: 2048 +- 813" wave "$I0/in_voltage0_raw" 813
wr $H/vrms_mv 230000
check "h3_pct = 100" wr $H/ch2/h3_pct 100
mm=$(samples "$I0/in_voltage2_raw" 80); diag "kitchen with 100 % 3rd harmonic: $mm"
check "3rd harmonic raises the crest (peak 1.54 x 202)" eval 'set -- $mm; (($1 < 2048 - 210 || $2 > 2048 + 210)) && (($1 >= 2048 - 313 && $2 <= 2048 + 313))'
wr $H/ch2/h3_pct 0
check "rms 400 A clips at the ADC's rails" eval 'wr $H/ch2/rms 400000 && set -- $(samples $I0/in_voltage2_raw 80) && (($1 == 0 && $2 == 4095))'
wr $H/ch2/rms 10000

# --- knobs and bad writes ---------------------------------------------
check "freq_mhz defaults to 50000" test "$(rd $H/freq_mhz)" = 50000
check "freq_mhz = 60000" eval 'wr $H/freq_mhz 60000 && test "$(rd $H/freq_mhz)" = 60000'
check "freq_mhz 5 is refused, 60000 kept" refused $H/freq_mhz 5 60000
wr $H/freq_mhz 50000
check "rms 'abc' is refused" refused $H/ch2/rms abc 10000
check "rms 2000001 is refused" refused $H/ch2/rms 2000001 10000
check "phase_mdeg -90000 is accepted" eval 'wr $H/ch2/phase_mdeg -90000 && test "$(rd $H/ch2/phase_mdeg)" = -90000'
check "phase_mdeg -180001 is refused" refused $H/ch2/phase_mdeg -180001 -90000
wr $H/ch2/phase_mdeg 0
check "h5_pct 101 is refused" refused $H/ch2/h5_pct 101 0
check "fault 2 is refused" refused $H/ch2/fault 2 0
check "stall 2 is refused" refused $H/stall 2 0
check "relay load_ma 1000001 is refused" refused $H/relay3/load_ma 1000001 5000
check "relay_log_clear 0 is refused" not wr $H/relay_log_clear 0
check "step_in_ms 3600001 is refused" not wr $H/ch2/step_in_ms 3600001

# --- relays -----------------------------------------------------------
wr $H/ch2/rms 0
B=$(gpio_base_of 0)
check "relay chip phloem-sim-relays.0 found" test -n "$B"
L=$((B + 3))	# oven: kitchen, 5 A
echo $L > /sys/class/gpio/export
G=/sys/class/gpio/hat0-oven	# sysfs names an exported line by its line name
echo out > $G/direction
check "relays start open" test "$(rd $H/relays)" = 0
wr $H/relay_log_clear 1
t0=$(uptime_ns)
echo 1 > $G/value
t1=$(uptime_ns)
check "oven on: relays = 8" test "$(rd $H/relays)" = 8
last=$(tail -n1 $H/relay_log)
diag "relay_log: $last (uptime $t0..$t1)"
check "relay_log records line 3 -> 1" eval 'set -- $last; test "$2 $3" = "3 1"'
check "relay_log time stamp is when it happened" \
	eval 'set -- $last; (($1 >= t0 - 20000000 && $1 <= t1 + 20000000))'
check "oven load in the kitchen CT: 5 A is 2048 +- 101" wave "$I0/in_voltage2_raw" 101
check "and in the site CT: 2048 +- 42" wave "$I0/in_voltage1_raw" 42
check "heating CT unaffected" flat "$I0/in_voltage4_raw"
echo 0 > $G/value
check "oven off: relays = 0, log has 3 -> 0" eval 'test "$(rd $H/relays)" = 0 && tail -n1 $H/relay_log | grep -q " 3 0$"'
check "oven off: kitchen CT back to the bias" flat "$I0/in_voltage2_raw"
check "relay_log_clear empties the log" eval 'wr $H/relay_log_clear 1 && ! grep -q . $H/relay_log'
echo $L > /sys/class/gpio/unexport

# --- steps ------------------------------------------------------------
wr $H/ch3/step_rms 8000
t0=$(uptime_ns)
wr $H/ch3/step_in_ms 300
t1=$(uptime_ns)
at=$(rd $H/step_at_ns)
diag "step_at_ns $at, armed between $t0 and $t1 (+300 ms)"
check "step_at_ns = arming time + 300 ms" \
	eval '((at >= t0 + 300000000 - 20000000 && at <= t1 + 300000000 + 20000000))'
check "before the step: garage rms still 0" test "$(rd $H/ch3/rms)" = 0
sleep 0.5
check "after the step: garage rms 8000" test "$(rd $H/ch3/rms)" = 8000
check "garage CT: 8 A at 140 mA/LSB is 2048 +- 81" wave "$I0/in_voltage3_raw" 81
wr $H/ch3/rms 0
wr $H/relay2/step_load_ma 1234
wr $H/relay2/step_in_ms 0
check "relay step now: load_ma 1234" test "$(rd $H/relay2/load_ma)" = 1234
wr $H/relay2/load_ma 4000

# --- faults and stalls ------------------------------------------------
before=$(dmesg | grep -c "SPI transfer failed")
check "fault = 1" wr $H/ch3/fault 1
check "a faulted input fails to read" eval '! read -r v < $I0/in_voltage3_raw 2>/dev/null'
check "other inputs still read" wave "$I0/in_voltage0_raw" 1626
for i in 1 2 3 4 5 6 7 8 9 10; do read -r v < $I0/in_voltage3_raw; done 2>/dev/null
check "faults do not flood the kernel log" test "$(dmesg | grep -c "SPI transfer failed")" = "$before"
wr $H/ch3/fault 0
check "fault cleared: input reads again" flat "$I0/in_voltage3_raw"

rm -f /tmp/stalled
wr $H/stall 1
( read -r v < $I0/in_voltage0_raw; echo "$v" > /tmp/stalled ) &
rp=$!
sleep 0.5
check "stall blocks the read" test ! -e /tmp/stalled
wr $H/stall 0
wait $rp
check "stall cleared: the read completes with a sample" eval 'v=$(cat /tmp/stalled) && ((v >= 420 && v <= 3676))'
wr $H/stall 1
( read -r v < $I0/in_voltage0_raw ) 2>/dev/null &
rp=$!
sleep 0.3
kill -KILL $rp 2>/dev/null
wait $rp 2>/dev/null
check "a stalled reader can be killed" eval '! kill -0 $rp 2>/dev/null'
wr $H/stall 0

# Unload with a reader stalled on hat1: unload must release it.
wr $DBG/hat1/stall 1
( read -r v < $I1/in_voltage0_raw ) 2>/dev/null &
rp=$!
sleep 0.3
check "rmmod phloem_sim with a stalled reader" rmmod phloem_sim
wait $rp 2>/dev/null
check "the stalled reader was released" eval '! kill -0 $rp 2>/dev/null'
check "debugfs, IIO devices, software nodes and relay chips are gone" \
	eval '! test -e $DBG && ! ls /sys/bus/iio/devices/iio:device* >/dev/null 2>&1 && ! ls -d /sys/kernel/software_nodes/phloem-sim-* >/dev/null 2>&1 && ! grep -qs phloem-sim /sys/class/gpio/gpiochip*/label'

check "reload and unload cleanly (hats=4)" eval 'insmod $SIM hats=4 && test "$(ls -d $DBG/hat* | wc -l)" = 4 && rmmod phloem_sim'

# --- under the real driver --------------------------------------------
if [ -r $DRV ]; then
	check "insmod phloem.ko, then the sim with hats=2" eval 'insmod $DRV && insmod $SIM hats=2'
	for i in $(seq 50); do [ -e /dev/phloem1 ] && break; sleep 0.1; done
	check "phloem.0 bound and /dev/phloem0 present" \
		eval 'test -e /sys/bus/platform/devices/phloem.0/driver && test -c /dev/phloem0'
	check "phloem.1 bound and /dev/phloem1 present" \
		eval 'test -e /sys/bus/platform/devices/phloem.1/driver && test -c /dev/phloem1'
	sleep 1
	r=$(rd $DBG/hat0/relays)
	diag "relays under phloem.ko: $r"
	check "the driver holds fridge and lights (critical, safe 1) on" test $((r & 0x90)) = $((0x90))
	check "the driver's relay writes are logged" grep -q . $DBG/hat0/relay_log
	check "rmmod phloem_sim while phloem.0 and phloem.1 are bound" rmmod phloem_sim
	check "phloem.N and /dev/phloemN are gone" \
		eval '! ls -d /sys/bus/platform/devices/phloem.* /dev/phloem* >/dev/null 2>&1'
	check "unbind put the relays in their safe state" \
		eval 'dmesg | grep -q "phloem.0: unbinding: relays in safe state"'
	check "rmmod phloem" rmmod phloem
else
	ok "# SKIP $DRV not built"
fi

echo "1..$n"
exit $((failed > 0))
