#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# phloemd end to end on the sim backend: real processes, a real UNIX
# socket and a real SQLite file. TAP on stdout.
#
#   phloemctl --(line JSON over $T/sock)--> phloemd --> sim backend
#                                              |          (kernel/shed.c on
#                                              v           a waveform model)
#                                          $T/h.db (WAL)
#
# The daemon runs with --time-offset so that its clock reads 11:59:50 at
# start: the [tou noon] window opens 10 s later, while the test watches.
set -u
. "$(dirname "$0")/lib.sh"
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}

T=$(mktemp -d /tmp/phloemd-test.XXXXXX)
chmod 755 "$T"
export PHLOEMD_SOCKET=$T/sock
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	[ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

conf() {	# conf WINDOW_LIMIT_W
	cat <<EOC
# test configuration
[agent]
backend = sim
socket = $T/sock
lease_s = 3
user =
group = nogroup

[site]
import_limit_w = 9000

[circuit site]
channel = i0
breaker_a = 40
curve = C
sim_base_a = 1

[circuit garage]
channel = i1
breaker_a = 32
limit_a = 20
sim_base_a = 2
max_hold_s = 120

[relay ev]
circuit = garage
priority = 10
min_off_s = 5
sim_load_a = 10

[relay heater]
circuit = garage
priority = 20
sim_load_a = 4

[tou noon]
days = all
start = 12:00
end = 13:00
site_import_limit_w = $1
shed = heater

[sim]
restore_delay_s = 1
step = 4 garage 15

[history]
db = $T/h.db
retention_days = 30
EOC
}

start() {
	"$PHLOEMD" -c "$T/t.conf" --time-offset "$OFFSET" 2>>"$T/log" &
	PID=$!
	wait_for 10 test -S "$T/sock"
}

ctl() { "$PHLOEMCTL" "$@"; }
# the daemon may hold the write lock for a moment: wait for it
sq() { sqlite3 -cmd ".timeout 3000" "$T/h.db" "$@"; }
ctlq() { "$PHLOEMCTL" "$@" >/dev/null; }
limit_w() { ctl limits --json | jget 'd["site_import_limit_w"]'; }

# ---- configuration checks (no daemon) ----
conf 2500 >"$T/t.conf"
pd_check() { "$PHLOEMD" --check -c "$1" >/dev/null; }
check "phloemd --check accepts a good file" pd_check "$T/t.conf"
sed 's/^priority = 20$/priorty = 20/' "$T/t.conf" >"$T/bad.conf"
line=$(grep -n '^priorty' "$T/bad.conf" | cut -d: -f1)
out=$("$PHLOEMD" --check -c "$T/bad.conf" 2>&1)
check "phloemd --check refuses an unknown key with file:line ($out)" \
	grep -q "bad.conf:$line: \[relay heater\] priorty: unknown key" <<<"$out"
out=$(ctl config check "$T/bad.conf" 2>&1); rc=$?
check "phloemctl config check reports file:line and fails" \
	test "$rc" -ne 0 -a -n "$(grep "bad.conf:$line:" <<<"$out")"
check "phloemctl config check --json parses (valid=false)" \
	test "$(ctl config check --json "$T/bad.conf" | jget 'd["valid"]')" = False
check "phloemctl config check accepts the good file" ctlq config check "$T/t.conf"
sed 's/^max_hold_s = 120$/max_hold_s = 50000/' "$T/t.conf" >"$T/bad.conf"
line=$(grep -n '^max_hold_s' "$T/bad.conf" | cut -d: -f1)
out=$("$PHLOEMD" --check -c "$T/bad.conf" 2>&1)
check "phloemd --check refuses max_hold_s 50000 with file:line ($out)" \
	grep -q "bad.conf:$line: \[circuit garage\] max_hold_s: expected seconds 0..43200" <<<"$out"

# ---- start, clock at 11:59:50 ----
OFFSET=$(( $(date -d 'today 11:59:50' +%s) - $(date +%s) ))
check "phloemd (sim) starts and listens" start
# first, while the clock is still well before noon (a loaded machine
# takes seconds over the checks below)
check "before the window: site import limit 9000 W" test "$(limit_w)" = 9000
# loaded only for their sections (agent/lib/dynlib), none configured here
check "libmosquitto, libmicrohttpd, libmodbus and libsodium not loaded" \
	sh -c "! grep -qE '/lib(mosquitto|microhttpd|modbus|sodium)\.' /proc/$PID/maps"
check "status (human)" ctlq status
# [circuit garage] max_hold_s = 120 is in force in the unit; the site,
# which the file leaves out, has the unit's default
hold_s() { ctl limits --json | jget "[c['max_hold_s'] for c in d['circuits'] if c['name']=='$1'][0]"; }
check "max_hold_s 120 pushed: garage's max hold in force ($(hold_s garage))" \
	test "$(hold_s garage)" = 120
check "site's max hold the default 900 s" test "$(hold_s site)" = 900
check "phloemctl limits shows the max holds" \
	bash -c "'$PHLOEMCTL' limits | grep -qE '^garage .* 120 s\$' && '$PHLOEMCTL' limits | grep -qE '^site .* 900 s \(default\)\$'"
for c in status channels relays limits events history; do
	check "$c --json parses" bash -c "'$PHLOEMCTL' $c --json | python3 -c 'import json,sys; json.load(sys.stdin)'"
done
# The start-up push: the relays' policy is the sim's boot configuration
# already, only the limits differ (9000 W): one config event, where every
# relay's policy was one more before (counted over the first 3 s, before
# the window opens).
n_config() { sq "select count(*) from event where kind='config'"; }
n_start() { sq "select count(*) from event where kind='config' and ts_ms <= (select min(ts_ms) from event) + 3000"; }
check "start-up push: one config event, not one per relay ($(n_start))" \
	test "$(n_start)" -eq 1
check "LOAD column: never shed, so unknown (not 0.0 A)" \
	bash -c "'$PHLOEMCTL' relays | grep -qE '^heater .* unknown\$'"
check "relays --json: load_known false before any shed" \
	test "$(ctl relays --json | jget '[r["load_known"] for r in d["relays"] if r["name"]=="heater"][0]')" = False

# events --follow: a background follower sees the override below
ctl events --follow --json -n 0 >"$T/follow" 2>&1 &
FPID=$!
sleep 0.5

# ---- overload at t=4 s sheds the EV, the event lands in history ----
shed_seen() { ctl events --json | jget 'any(e["kind"] == "shed" for e in d)' | grep -q True; }
check "overload sheds a relay (event via socket)" wait_for 15 shed_seen
check "shed event recorded in SQLite" \
	test "$(sq "select count(*) from event where kind='shed' and relay='ev'")" -ge 1
check "relays shows ev shed" \
	test "$(ctl relays --json | jget '[r["shed_count"] for r in d["relays"] if r["name"]=="ev"][0] >= 1')" = True
# an operator reads units: "20.3 A > 20.0 A", not "value=20279 limit=20000"
shed_line=$(ctl events | grep -m1 ' shed ')
check "event line in amperes ($shed_line)" \
	grep -qE ' relay=ev circuit=garage +[0-9]+\.[0-9]+ A > [0-9]+\.[0-9]+ A' <<<"$shed_line"
check "event line has no raw value=/limit= ($shed_line)" \
	bash -c "! grep -qE 'value=|limit=' <<<'$shed_line'"
check "events --json keeps the raw mA and adds the text" \
	test "$(ctl events --json | jget '[e for e in d if e["kind"]=="shed"][0]["value"] > 20000 and " A > " in [e for e in d if e["kind"]=="shed"][0]["measure"]')" = True
ev_load() { ctl relays | grep -qE '^ev .* [0-9]+\.[0-9] A$'; }
check "LOAD column: the EV's load once it was shed" wait_for 5 ev_load

# ---- operator actions ----
check "relays off heater --for 1m" ctlq relays off heater --for 1m
check "heater overridden off" \
	test "$(ctl relays --json | jget '[r["override"] for r in d["relays"] if r["name"]=="heater"][0]')" = off
check "follower received the override event" wait_for 5 grep -q '"kind":"override"' "$T/follow"
check "relays auto heater" ctlq relays auto heater
check "relays priority heater 5" ctlq relays priority heater 5
check "priority now 5" \
	test "$(ctl relays --json | jget '[r["priority"] for r in d["relays"] if r["name"]=="heater"][0]')" = 5
check "relays on nosuch fails" bash -c "! '$PHLOEMCTL' relays on nosuch 2>/dev/null"
check "limits set site 0 (import rule off)" ctlq limits set site 0
check "status says import limit none, not 0 W" \
	bash -c "'$PHLOEMCTL' status | grep -q '(import limit none)'"
check "limits says site import limit: none" \
	bash -c "'$PHLOEMCTL' limits | grep -q '^site import limit: none (set by operator; policy [0-9.]* kW)'"
check "limits set site 3000" ctlq limits set site 3000
check "site limit 3000 W" test "$(limit_w)" = 3000
check "limits set garage 40 refused (above breaker)" bash -c "! '$PHLOEMCTL' limits set garage 40 2>/dev/null"
check "limits set garage 18" ctlq limits set garage 18
check "garage limit 18 A" \
	test "$(ctl limits --json | jget '[c["limit_ma"] for c in d["circuits"] if c["name"]=="garage"][0]')" = 18000
check "limits reset" ctlq limits reset
check "after reset: the policy's limit again" \
	test "$(ctl limits --json | jget 'd["site_import_limit_w"] == d["site_policy_w"] and not d["site_operator"]')" = True

# ---- the window opens at 12:00:00 agent time ----
check "window opens: limit 2500 W reaches the backend" wait_for 15 bash -c "test \"\$('$PHLOEMCTL' limits --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"site_import_limit_w\"])')\" = 2500"
check "window holds heater off" \
	test "$(ctl relays --json | jget '[r["held_by_window"] for r in d["relays"] if r["name"]=="heater"][0]')" = True
check "status lists the open window" bash -c "'$PHLOEMCTL' status | grep -q 'windows open:  noon'"

# ---- SIGHUP: a broken file is refused, a good one applied ----
conf 2000 >"$T/t.conf"
kill -HUP "$PID"
check "good reload applies the new window limit (2000 W)" wait_for 5 bash -c "test \"\$('$PHLOEMCTL' limits --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"site_import_limit_w\"])')\" = 2000"
conf 1500 | sed 's/^start = 12:00$/start = 25:00/' >"$T/t.conf"
bad=$(grep -n '^start = 25:00' "$T/t.conf" | cut -d: -f1)
kill -HUP "$PID"
check "broken reload refused with file:line in the log" \
	wait_for 5 grep -q "reload refused.*t.conf:$bad: \[tou noon\] start" "$T/log"
check "broken reload keeps the old limits (2000 W)" test "$(limit_w)" = 2000
check "daemon still alive after the broken reload" kill -0 "$PID"
conf 2000 >"$T/t.conf"
# a reload re-pushes the whole policy: unchanged, it is no config event
kill -HUP "$PID"
check "good reload logged" wait_for 5 bash -c "test \$(grep -c 'configuration reloaded' '$T/log') -ge 2"
n0=$(n_config); sleep 1
kill -HUP "$PID"
check "third reload logged" wait_for 5 bash -c "test \$(grep -c 'configuration reloaded' '$T/log') -ge 3"
sleep 0.5
check "reloading an unchanged file adds no config event ($n0 -> $(n_config))" \
	test "$(n_config)" -eq "$n0"

# ---- permissions: nobody (group nogroup = read group) may read, not write;
# a user outside the group cannot even connect ----
if id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null; then
	# phloemctl from $T, which they can read: the checkout may be where
	# they cannot (a clone in /root, mode 700), and a refusal must be
	# phloemd's, not exec's
	cp "$PHLOEMCTL" "$T/phloemctl" && chmod 755 "$T/phloemctl"
	asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups env PHLOEMD_SOCKET="$T/sock" "$T/phloemctl" "$@"; }
	nobody_status() { asnobody status >/dev/null; }
	check "group member may read (status)" nobody_status
	out=$(asnobody relays off ev 2>&1); rc=$?
	check "group member refused for writes by phloemd ($out)" \
		test "$rc" -ne 0 -a -n "$(grep -i 'phloemd: permission denied' <<<"$out")"
	check "write refusal logged by phloemd" grep -q 'refused for "relay"' "$T/log"
	out=$(setpriv --reuid=daemon --regid=daemon --clear-groups env PHLOEMD_SOCKET="$T/sock" "$T/phloemctl" relays off ev 2>&1); rc=$?
	check "non-group user refused at the socket ($out)" \
		test "$rc" -ne 0 -a -n "$(grep -i "connecting to phloemd at $T/sock: permission denied" <<<"$out")"
else
	skip "permission checks" "no nobody/nogroup"
fi

# ---- history: wait for a flush, then the table has bars ----
has_rows() { [ "$(sq 'select count(*) from minute where import_mwh > 0')" -ge 2 ]; }
check "per-minute rows written for both channels" wait_for 15 has_rows
check "history table shows an ASCII bar" bash -c "'$PHLOEMCTL' history --since 1d | grep -q '|#'"
check "history --channel garage" bash -c "'$PHLOEMCTL' history --since 1d --channel garage | grep -q '^i1 (garage)'"

# ---- SIGKILL and restart: nothing committed is lost ----
ev_before=$(sq 'select count(*) from event')
wh_before=$(sq 'select sum(import_mwh) from minute')
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
check "restart after SIGKILL (stale socket replaced)" start
check "SQLite file intact" test "$(sq 'pragma integrity_check')" = ok
check "events kept across SIGKILL ($ev_before)" \
	test "$(sq 'select count(*) from event')" -ge "$ev_before"
more_energy() { [ "$(sq 'select sum(import_mwh) from minute')" -gt "$wh_before" ]; }
check "energy keeps adding up after restart (was $wh_before mWh)" wait_for 15 more_energy
check "restarted daemon serves events from before the kill" \
	test "$(ctl events --json -n 1000 | jget 'any(e["kind"] == "shed" for e in d)')" = True

# ---- clean stop ----
kill "$PID"; wait "$PID"; rc=$?; PID=
check "SIGTERM: clean exit" test "$rc" -eq 0
check "SIGTERM: socket removed" test ! -e "$T/sock"
check "without phloemd, limits says it is not running" bash -c "'$PHLOEMCTL' limits 2>&1 | grep -q 'not running'"

# ---- privileges: started as root with user = nobody, it switches and
# still writes its history ----
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	sed -i 's/^user =$/user = nobody/' "$T/t.conf"
	check "restart with user = nobody" start
	check "running as nobody" grep -qE "^Uid:\s+$(id -u nobody)\s" "/proc/$PID/status"
	evs=$(sq 'select count(*) from event')
	check "root client may still change relays" ctlq relays off ev --for 30s
	more_events() { [ "$(sq 'select count(*) from event')" -gt "$evs" ]; }
	check "history still written after the switch" wait_for 5 more_events
	kill "$PID"; wait "$PID"; rc=$?; PID=
	check "clean exit as nobody" test "$rc" -eq 0
	rm -f "$T/sock"
	sed -i 's/^user = nobody$/user =/' "$T/t.conf"
else
	skip "privilege switch" "not root"
fi

# ---- systemd notification protocol ($NOTIFY_SOCKET datagrams) ----
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
try:
    while True:
        print(s.recv(4096).decode().replace("\n", " "), flush=True)
except socket.timeout:
    pass
' "$T/notify" >"$T/notify.log" &
NPID=$!
# the receiver must be bound before phloemd sends READY=1 (a loaded
# machine takes longer than any fixed sleep to start python)
wait_for 10 test -S "$T/notify"
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=400000 "$PHLOEMD" -c "$T/t.conf" 2>>"$T/log" &
PID=$!
check "sd_notify READY=1 once running" wait_for 10 grep -q 'READY=1' "$T/notify.log"
check "sd_notify WATCHDOG=1 from the loop" wait_for 5 grep -q 'WATCHDOG=1' "$T/notify.log"
kill -HUP "$PID"
check "sd_notify RELOADING=1 on SIGHUP" wait_for 5 grep -q 'RELOADING=1' "$T/notify.log"
kill "$PID"; wait "$PID"; PID=
check "sd_notify STOPPING=1 on SIGTERM" wait_for 5 grep -q 'STOPPING=1' "$T/notify.log"
kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null

# ---- kernel backend without phloem.ko: a clear error, never a silent run ----
if ! grep -qw phloem /proc/modules 2>/dev/null; then
	out=$("$PHLOEMD" -c "$T/t.conf" -b kernel 2>&1); rc=$?
	check "kernel backend without the family fails clearly ($out)" \
		test "$rc" -eq 1 -a -n "$(grep 'netlink family is not registered' <<<"$out")"
	out=$(ctl status 2>&1); rc=$?
	check "phloemctl status without phloemd nor phloem.ko says so" \
		test "$rc" -eq 1 -a -n "$(grep 'phloemd is not running and phloem.ko is not loaded' <<<"$out")"
else
	skip "kernel backend absent" "phloem.ko is loaded"
fi

# ---- [site] phase_* keys reach the unit: a phase limit sheds ----
# The sim's site has one CT: phase_limit_a goes to L1, its phase; the
# site draws 17 A there, the limit is 8 A, a second of grace.
conf 4000000 | sed 's/^import_limit_w = 9000$/phase_limit_a = 8\nphase_grace_s = 1/' > "$T/ph.conf"
"$PHLOEMD" -c "$T/ph.conf" 2>"$T/ph.log" &
PHPID=$!
check "phloemd pushes [site] phase_limit_a: a shed with cause phase" \
	wait_for 15 grep -q 'event shed cause=phase' "$T/ph.log"
check "  and no refusal of the phase rules" \
	test -z "$(grep 'phase rules refused' "$T/ph.log")"
kill "$PHPID"; wait "$PHPID" 2>/dev/null

# ---- [site] volt_* / outage_* / return_* keys reach the unit ----
# The sim's mains at 200 V against a 230 V nominal: under a -+5 % band
# (218.5 V) at once, and under the under-voltage rule's 95 % (218.5 V)
# for a second, which sheds from the phase.
mains_conf() {
	conf 4000000 | sed "s/^import_limit_w = 9000$/$1/; s/^restore_delay_s = 1$/restore_delay_s = 1\nvrms_v = 200/"
}
mains_conf 'volt_nominal_v = 230\nvolt_band_pct = 5\nvolt_delay_ms = 0\nvolt_shed_pct = 95\nvolt_shed_s = 1\noutage_pct = 40\noutage_cycles = 3\noutage_keep = heater\nreturn_s = 30\nreturn_stagger_ms = 500' >"$T/mn.conf"
check "phloemd --check accepts the mains keys" pd_check "$T/mn.conf"
"$PHLOEMD" -c "$T/mn.conf" 2>"$T/mn.log" &
MNPID=$!
check "phloemd pushes [site] volt_band_pct: an under-voltage event" \
	wait_for 15 grep -q 'event voltage cause=under-voltage' "$T/mn.log"
check "phloemd pushes [site] volt_shed_pct: a shed with cause under-voltage" \
	wait_for 15 grep -q 'event shed cause=under-voltage' "$T/mn.log"
check "  and no refusal of the mains rules" \
	test -z "$(grep 'mains rules refused' "$T/mn.log")"
kill "$MNPID"; wait "$MNPID" 2>/dev/null
# a bad value: file:line and what is expected, nothing started
for bad in "volt_nominal_v = 20:expected volts 50..500" \
	"outage_pct = 95:expected percent of nominal 0..90" \
	"outage_cycles = 0:expected mains cycles 1..50" \
	"outage_keep = nosuch:relay \"nosuch\" is not defined" \
	"return_s = 601:expected seconds 1..600" \
	"return_stagger_ms = 60001:expected milliseconds 1..60000" \
	"volt_band_pct = 21:expected percent of nominal 0..20" \
	"volt_delay_ms = 1.5:expected milliseconds 0..60000" \
	"volt_shed_pct = 40:expected percent of nominal 50..99" \
	"volt_shed_s = 601:expected seconds 0..600"; do
	kv=${bad%%:*} want=${bad#*:}
	mains_conf "$kv" >"$T/bad.conf"
	out=$("$PHLOEMD" --check -c "$T/bad.conf" 2>&1); rc=$?
	check "phloemd --check refuses $kv ($out)" \
		test "$rc" -ne 0 -a -n "$(grep -F "[site] ${kv%% =*}: $want" <<<"$out")"
done

# ---- bad command-line arguments: a usage error (2), nothing else ----
# freq, phase and mains (pdc_device_view()) parse --device as the rest do
for bad in "status --device abc" "channels -d -1" "relays --device 4294967296" \
	"freq --device abc" "phase -d -1" "mains --device 4294967296"; do
	out=$(ctl $bad 2>&1); rc=$?
	check "phloemctl $bad refused as a usage error ($out)" \
		test "$rc" -eq 2 -a -n "$(grep 'not a device number' <<<"$out")"
done
for bad in "mains bogus" "phase show extra"; do
	out=$(ctl $bad 2>&1); rc=$?
	check "phloemctl $bad refused as a usage error ($out)" test "$rc" -eq 2
done

diag "phloemd log:"
sed 's/^/#   /' "$T/log" | tail -n 15
done_testing
