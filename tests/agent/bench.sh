#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-agent: phloemd's footprint on the sim backend. Resident memory
# (VmRSS, VmHWM) and CPU over an idle window (the sim model produces
# 1000 samples/s/channel on 4 channels, so "idle" includes running the
# shedding unit), plus control-socket round trips. Target: RSS < 8 MiB.
# The whole table is printed whatever happens; a row that misses its
# target says so in its last column, and the script fails only at the end.
set -eu
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}
IDLE_S=${IDLE_S:-10}
T=$(mktemp -d /tmp/phloemd-bench.XXXXXX)
trap 'kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
cat >"$T/b.conf" <<EOC
[agent]
backend = sim
socket = $T/sock
user =
[site]
import_limit_w = 9000
[circuit site]
channel = i0
breaker_a = 63
sim_base_a = 3
[circuit kitchen]
channel = i1
breaker_a = 16
sim_base_a = 2
[circuit garage]
channel = i2
breaker_a = 32
sim_base_a = 1
[relay ev]
circuit = garage
priority = 10
sim_load_a = 16
[relay oven]
circuit = kitchen
priority = 50
sim_load_a = 8
[tou evening]
days = all
start = 17:00
end = 20:00
site_import_limit_w = 6000
shed = ev
[history]
db = $T/h.db
EOC
"$PHLOEMD" -c "$T/b.conf" 2>"$T/log" &
PID=$!
for _ in $(seq 50); do [ -S "$T/sock" ] && break; sleep 0.1; done
sleep 2
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
sleep "$IDLE_S"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s0="$s0" -v s1="$s1" \
	'BEGIN { printf "%.2f", 100 * (b - a) / hz / (s1 - s0) }')
export PHLOEMD_SOCKET=$T/sock
r0=$(date +%s%N)
for _ in $(seq 100); do "$PHLOEMCTL" status --json >/dev/null; done
r1=$(date +%s%N)
rt=$(( (r1 - r0) / 100 / 1000 ))
missed=
verdict() {	# verdict VALUE LIMIT: "ok" when VALUE < LIMIT
	if [ "$1" -lt "$2" ]; then echo ok; else echo "MISSED"; fi
}
v_rss=$(verdict "$rss" 8192)
v_hwm=$(verdict "$hwm" 8192)
[ "$v_rss" = ok ] || missed="$missed, VmRSS"
[ "$v_hwm" = ok ] || missed="$missed, VmHWM"
echo
echo "phloemd (sim backend, 4 channels at 1 kHz, 2 relays, 1 window)"
printf "%-34s %12s %10s  %s\n" "metric" "value" "target" "result"
printf "%-34s %8d KiB %10s  %s\n" "VmRSS after ${IDLE_S}s idle" "$rss" "< 8192" "$v_rss"
printf "%-34s %8d KiB %10s  %s\n" "VmHWM (peak resident)" "$hwm" "< 8192" "$v_hwm"
printf "%-34s %11s%% %10s  %s\n" "CPU over ${IDLE_S}s idle" "$cpu" "-" "-"
printf "%-34s %9d us %10s  %s\n" "phloemctl status (spawn+round trip)" "$rt" "-" "-"
if [ -n "$missed" ]; then
	echo "bench-agent: target missed: ${missed#, }" >&2
	exit 1
fi
