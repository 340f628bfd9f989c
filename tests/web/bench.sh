#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-web: phloemd with MQTT and the dashboard both on (sim backend).
#   - dashboard update latency: kernel event -> on the page in Chromium
#     (tests/web/run.sh with ROUNDS overloads; median and worst)
#   - MQTT publish rate: messages a subscriber receives per second, state
#     period 1 s, and the rate of a burst of events (relay overrides)
#   - VmRSS after an idle window with both on, no browser. Target 8 MiB.
# Env: PHLOEMD, PHLOEMCTL, PW_DIR, ROUNDS (default 10), IDLE_S (default 20).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../agent/lib.sh" >/dev/null
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}
ROUNDS=${ROUNDS:-10} IDLE_S=${IDLE_S:-20}
T=$(mktemp -d /tmp/phloem-webbench.XXXXXX)
export PHLOEMD_SOCKET=$T/sock
PID= BPID=
cleanup() {
	for p in $PID $BPID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" INT TERM
missed=

# ---- latency, through the browser test ----
WEB_OUT=$T/out BENCH=1 ROUNDS=$ROUNDS "$here/run.sh" >"$T/web.tap" 2>&1
lat=$(python3 - "$T/out/latency.json" <<'EOP' 2>/dev/null
import json, statistics, sys
l = json.load(open(sys.argv[1]))["latency_ms"]
print(len(l), statistics.median(l), max(l))
EOP
)
read -r n med worst <<<"${lat:-0 0 0}"
# rounds lost: say why (the browser test's failures and their details,
# or why it skipped: no chromium, no playwright-core from npm)
[ "$n" = "$ROUNDS" ] || grep -A2 -E '^not ok|# SKIP' "$T/web.tap" | sed 's/^/bench-web: /'

# ---- MQTT rate and idle RSS ----
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$PORT" "$(id -un)" >"$T/b.conf"
mosquitto -c "$T/b.conf" >"$T/b.log" 2>&1 &
BPID=$!
wait_for 10 mosquitto_pub -h 127.0.0.1 -p "$PORT" -t probe -n 2>/dev/null
printf 'abcdefghijklmnopqrstuvwxyz\n' >"$T/token"
. "$here/house.sh"
{ house_conf "$T"; cat <<EOC
[mqtt]
host = 127.0.0.1
port = $PORT
interval_s = 1
[web]
enable = yes
port = 0
token_file = $T/token
EOC
} >"$T/t.conf"
"$PHLOEMD" -c "$T/t.conf" 2>"$T/log" &
PID=$!
wait_for 10 grep -q "mqtt: connected" "$T/log"
sleep "$IDLE_S"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
# where it goes: /proc/PID/smaps's Rss by mapping, in groups (docs/web.md,
# "Memory"); "private" is Private_Dirty: pages written (relocations, data,
# heap) that no other process shares
cp "/proc/$PID/smaps" "$T/smaps"
rss_groups() {
	awk '
	function group(f) {
		if (f == "" || f ~ /^\[(heap|stack|anon)/ || f ~ /\/phloemd$/) return "phloemd: binary, heap, stack, anonymous"
		if (f ~ /\/(libc\.so|ld-linux)/) return "C library (libc, ld.so)"
		if (f ~ /\/libsqlite3\.|\/libm\.so|\.db-shm$/) return "SQLite (libsqlite3, libm, WAL index)"
		if (f ~ /\/libmosquitto\./) return "MQTT: libmosquitto"
		if (f ~ /\/lib(crypto|ssl)\./) return "MQTT: OpenSSL (libcrypto, libssl)"
		if (f ~ /\/libmicrohttpd\./) return "web: libmicrohttpd"
		if (f ~ /\/lib(gnutls|p11-kit|nettle|hogweed|gmp|tasn1|idn2|unistring|ffi)\./) return "web: GnuTLS and the eight it needs"
		if (f ~ /^\[v/) return "kernel ([vdso], [vvar])"
		return "libnl, json-c, inih (sodium, modbus if loaded)"
	}
	/^[0-9a-f]+-[0-9a-f]+ / { g = group($6) }
	/^Rss:/ { r[g] += $2 }
	/^Private_Dirty:/ { d[g] += $2 }
	END { for (g in r) if (r[g]) printf "%s\t%d\t%d\n", g, r[g], d[g] }' "$1" | sort -t "$(printf '\t')" -k2,2nr
}
timeout 10 mosquitto_sub -h 127.0.0.1 -p "$PORT" -t 'phloem/#' -t 'homeassistant/#' -v >"$T/steady" 2>/dev/null
steady=$(( $(grep -vc ' .*config' "$T/steady" || true) ))
# a burst: 200 overrides, each an event (queued, QoS 1) and a state round
timeout 30 mosquitto_sub -h 127.0.0.1 -p "$PORT" -t 'phloem/phloem/event' -q 1 -C 200 >"$T/burst" 2>/dev/null &
SP=$!
sleep 0.5
t0=$(date +%s%N)
for i in $(seq 100); do "$PHLOEMCTL" relays off heater --for 60s >/dev/null; "$PHLOEMCTL" relays auto heater >/dev/null; done
wait $SP
t1=$(date +%s%N)
burst=$(wc -l <"$T/burst")
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0) ? "ok" : "MISSED" }'; }
printf '\n%-52s %12s %10s  %s\n' "bench-web (sim backend, MQTT and dashboard on)" "value" "target" "verdict"
v=$( [ "$n" = "$ROUNDS" ] && verdict "$worst" 1000 || echo MISSED)
[ "$v" = ok ] || missed="$missed latency"
printf '%-52s %9s ms %10s  %s\n' "kernel event -> page, median of $n" "$med" "" ""
printf '%-52s %9s ms %10s  %s\n' "kernel event -> page, worst of $n" "$worst" "< 1000" "$v"
printf '%-52s %9.1f /s %10s  %s\n' "MQTT messages, steady state (10 s)" "$(awk -v s="$steady" 'BEGIN{print s/10}')" "" ""
printf '%-52s %9.0f /s %10s  %s\n' "MQTT events delivered, $burst overrides by phloemctl" \
	"$(awk -v b="$burst" -v d=$((t1 - t0)) 'BEGIN{print b / (d / 1e9)}')" "" "$( [ "$burst" -ge 200 ] && echo ok || echo MISSED)"
[ "$burst" -ge 200 ] || missed="$missed burst"
v=$(verdict "$rss" 8192)
[ "$v" = ok ] || missed="$missed rss"
printf '%-52s %8s KiB %10s  %s\n' "VmRSS, both on, ${IDLE_S}s idle" "$rss" "<= 8192" "$v"
rss_groups "$T/smaps" | while IFS=$'\t' read -r g r d; do
	printf '%-52s %8s KiB  (%s KiB private)\n' "  $g" "$r" "$d"
done
[ -z "$missed" ] || { echo "bench-web: missed:$missed"; exit 1; }
