#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-modbus: phloemd with SunSpec devices over Modbus, end to end.
#
#   sunspec_sim.py (pymodbus) --TCP--> phloemd --(socket)--> phloemctl
#   inverter, battery, meter  --RTU--> (bus threads)           status --json
#        |   ^ setpoints        (socat pty pair)   |
#        v   |                                     v sim backend: the
#      $D/power ---- [sim] device_power ------->  site meter sees the
#                                                 devices' power
#   mbpoll --TCP--> phloemd's SunSpec meter server
#
# Env: PHLOEMD, PHLOEMCTL, AT (sunspec_test, devctl_test). TAP on stdout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../agent/lib.sh"
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?} AT=${AT:?}
PY=/usr/bin/python3
SIM="$here/sunspec_sim.py"

T=$(mktemp -d /tmp/phloem-modbus.XXXXXX)
chmod 755 "$T"
export PHLOEMD_SOCKET=$T/sock
PIDS=()
PD=
cleanup() {
	[ -n "$PD" ] && kill "$PD" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# a free TCP port for each simulator
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# sim NAME KIND ARGS...: start a simulator in $T/NAME (its pid in $T/NAME/pid)
sim() {
	local name=$1; shift
	mkdir -p "$T/$name"
	rm -f "$T/$name/ready"
	$PY "$SIM" "$@" --dir "$T/$name" >>"$T/$name/log" 2>&1 &
	echo $! >"$T/$name/pid"
	PIDS+=($!)
	wait_for 10 test -e "$T/$name/ready"
}
ctl() { echo "$2" >"$T/$1/control.json.tmp" && mv "$T/$1/control.json.tmp" "$T/$1/control.json"; }
status() { $PHLOEMCTL status --json 2>/dev/null; }
dev() {	# dev NAME FIELD: a device's field from status --json
	status | jget "[x for x in d['devices'] if x['name']=='$1'][0]['$2']"
}
dev_is() { [ "$(dev "$1" "$2")" = "$3" ]; }
start_pd() {
	$PHLOEMD -c "$T/pd.conf" >>"$T/pd.log" 2>&1 &
	PD=$!
	wait_for 10 $PHLOEMCTL status
}
stop_pd() { kill "$PD"; wait "$PD" 2>/dev/null; PD=; }

common_conf() {	# common_conf BASE_A
	cat <<EOC
[agent]
backend = sim
socket = $T/sock
lease_s = 2
sample_ms = 100
user =
group = nogroup

[history]
db = $T/h.db

[circuit site]
channel = i0
breaker_a = 63
sim_base_a = $1
EOC
}

echo "TAP version 13"

# ---- the pure library and the control rules ----
if out=$("$AT/sunspec_test" 2>&1); then ok "sunspec_test (libsunspec units)"; else notok "sunspec_test"; echo "$out" | sed 's/^/# /'; fi
if out=$("$AT/devctl_test" 2>&1); then ok "devctl_test (control rules)"; else notok "devctl_test"; echo "$out" | sed 's/^/# /'; fi
check "models.c is what gen-models.py makes of the SunSpec JSON models" \
	cmp -s <($PY "$here/../../agent/lib/sunspec/gen-models.py" "$here") "$here/../../agent/lib/sunspec/models.c"

# ---- 1: discovery, values, faults, RTU, the server ----
P0=$(port); P4=$(port); P5=$(port); PM=$(port); PB=$(port); PS=$(port); PD4=$(port)
sim inv0 inverter --tcp "$P0" --base 0
ctl inv0 '{"pv_avail_w": 1500}'
sim inv5 inverter --tcp "$P5" --base 50000
ctl inv5 '{"pv_avail_w": 700}'
sim der der --tcp "$PD4" --base 40000
ctl der '{"pv_avail_w": 900}'
sim meter meter --tcp "$PM" --base 40000
ctl meter '{"meter_w": -123.45, "sf": {"W_SF": -2}}'
sim batt battery --tcp "$PB" --base 40000
ctl batt '{"soc_pct": 55}'
RTU=
if socat -d -d pty,raw,echo=0,link="$T/ttyA" pty,raw,echo=0,link="$T/ttyB" 2>"$T/socat.log" &
then PIDS+=($!); wait_for 5 test -e "$T/ttyB" && RTU=1; fi
[ -n "$RTU" ] && sim rtu meter --rtu "$T/ttyA" --base 40000 && ctl rtu '{"meter_w": 321}'
{
	common_conf 2
	cat <<EOC
[sim]
device_power = site $T/inv0/power

[device inv0]
url = tcp://127.0.0.1:$P0
poll_ms = 200
timeout_ms = 1000

[device inv5]
url = tcp://127.0.0.1:$P5
base = 50000
poll_ms = 200

[device der]
url = tcp://127.0.0.1:$PD4
poll_ms = 200

[device meter]
url = tcp://127.0.0.1:$PM
poll_ms = 200

[device batt]
url = tcp://127.0.0.1:$PB
poll_ms = 200
timeout_ms = 500
EOC
	[ -n "$RTU" ] && printf '\n[device rtu]\nurl = rtu:%s\nbaud = 9600\npoll_ms = 500\ntimeout_ms = 1500\n' "$T/ttyB"
	printf '\n[modbus_server]\nlisten = 127.0.0.1\nport = %s\nmax_clients = 2\n' "$PS"
} >"$T/pd.conf"
start_pd
check "inverter discovered at base 0" wait_for 10 dev_is inv0 state online
check "inverter discovered at base 40000 (models 701, 704)" wait_for 10 dev_is der state online
check "inverter discovered at base 50000" wait_for 10 dev_is inv5 state online
check "meter discovered" wait_for 10 dev_is meter state online
check "battery discovered" wait_for 10 dev_is batt state online
check "base 0 found where it is" grep -q 'inv0: SunSpec at 0: models 1 103 120 123' "$T/pd.log"
check "base 50000 found where it is" grep -q 'inv5: SunSpec at 50000: models 1 103 120 123' "$T/pd.log"
check "700-series chain walked" grep -q 'der: SunSpec at 40000: models 1 701 120 704' "$T/pd.log"
check "kinds from the models" test "$(dev inv0 kind)/$(dev batt kind)/$(dev meter kind)" = "inverter/battery/meter"
check "common model strings" test "$(dev meter manufacturer)" = "phloem-test"
check "meter W at W_SF -2, exactly" wait_for 5 dev_is meter meter_w -123.45
check "not implemented TotWhExp is unknown (null), not 0" dev_is meter export_wh None
check "implemented TotWhImp read" dev_is meter import_wh 1000.0
check "inverter W (model 103)" wait_for 5 dev_is inv0 ac_w 1500.0
check "inverter W (model 701)" wait_for 5 dev_is der ac_w 900.0
check "rating from model 120 (WRtg at WRtg_SF 1)" dev_is inv0 rating_w 5000.0
check "battery SoC from ChaState at sf -2" wait_for 5 sh -c "[ \"\$($PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(int([x for x in d[\"devices\"] if x[\"name\"]==\"batt\"][0][\"soc_pct\"]))')\" -ge 54 ]"
check "site PV is the inverters' sum" wait_for 5 sh -c "$PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d[\"pv_w\"] != 3100.0)'"
# the PV of inv0 is on the wires: 2 A load = 460 W, minus 1500 W
check "the inverter's power reaches the site meter" wait_for 5 sh -c "$PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not -1100 < d[\"site_p_w\"] < -960)'"
if [ -n "$RTU" ]; then
	check "RTU meter over a pty pair" wait_for 10 dev_is rtu state online
	check "RTU meter value" wait_for 5 dev_is rtu meter_w 321.0
else
	skip "RTU meter over a pty pair" "socat pty pair failed"
	skip "RTU meter value" "socat pty pair failed"
fi

# the server, read by mbpoll
mb() { mbpoll -m tcp -a 1 -1 -p "$PS" "$@" 127.0.0.1 2>&1; }
out=$(mb -r 40001 -c 2 -t 4:hex)
check "server: SunS marker at 40000" grep -q '0x5375' <<<"$out"
out=$(mb -r 40071 -c 2 -t 4)
has_model() { grep -q ']:[[:space:]]*203' <<<"$out" && grep -q ']:[[:space:]]*105' <<<"$out"; }
check "server: model 203, length 105, after the common model" has_model
# W: the meter model's ID at 40070, W at offset 18 (mbpoll counts from 1)
# (mbpoll prints "UNSIGNED (SIGNED)" for a negative one)
w=$(mb -r 40089 -c 1 -t 4 | sed -n 's/^\[40089\]:[[:space:]]*//p' | sed -E 's/^[0-9]+ \((-[0-9]+)\)/\1/; s/ .*//')
sw=$(status | jget 'int(round(d["site_p_w"]))')
check "server: W is the kernel's site power ($w vs $sw)" test -n "$w" -a $(( w - sw )) -lt 80 -a $(( sw - w )) -lt 80
raw() { $PY "$here/mbraw.py" "$PS" "$@"; }
check "server: read-only, a write is exception 1" test "$(raw 1 6 40068 5)" = "exception 1"
check "server: and changed nothing" test "$(raw 1 3 40068 1)" = "ok 1"
check "server: outside the map, exception 2" test "$(raw 1 3 30000 1)" = "exception 2"
check "server: past the end of the map, exception 2" test "$(raw 1 3 40170 20)" = "exception 2"
check "server: 126 registers, exception 3" test "$(raw 1 3 40000 126)" = "exception 3"
check "server: 125 registers, answered" test "$(raw 1 3 40000 125)" = "ok 125"
check "server: coils (function 1), exception 1" test "$(raw 1 1 0 1)" = "exception 1"
check "server: another unit id, exception 11" test "$(raw 7 3 40000 2)" = "exception 11"
# max_clients = 2: two connections answered, a third closed at accept
clients() {
	$PY - "$PS" <<'EOP'
import socket, struct, sys, time
port = int(sys.argv[1])
req = struct.pack('>HHHBBHH', 1, 0, 6, 1, 3, 40000, 2)
socks = [socket.create_connection(('127.0.0.1', port), timeout=2) for _ in range(3)]
time.sleep(0.3)
res = []
for s in socks:
    try:
        s.sendall(req)
        res.append('ok' if len(s.recv(64)) >= 9 else 'closed')
    except OSError:
        res.append('closed')
print(' '.join(res))
EOP
}
check "server: a client over max_clients is closed" test "$(clients)" = "ok ok closed"

# faults: the lease and the other devices go on meanwhile
lease_ok() { [ "$(status | jget 'd["lease_left_ms"] > 0')" = True ]; }
reads0=$(dev meter reads)
kill "$(cat "$T/inv0/pid")"
check "a device that disappears goes offline" wait_for 10 dev_is inv0 state offline
check "its values are unknown, not the last ones" dev_is inv0 ac_w None
sim inv0 inverter --tcp "$P0" --base 0
ctl inv0 '{"pv_avail_w": 1200}'
check "a device that comes back is online again (backoff)" wait_for 40 dev_is inv0 state online
check "its new value" wait_for 5 dev_is inv0 ac_w 1200.0
ctl batt '{"mode": "slow", "delay_s": 2}'
check "a device answering slower than its timeout goes offline" wait_for 10 dev_is batt state offline
worst=999999
for i in $(seq 1 20); do
	l=$(status | jget 'd["lease_left_ms"]')
	[ "$l" -lt "$worst" ] && worst=$l
	sleep 0.25
done
check "the lease never lapsed while a device timed out (lowest left: $worst ms of 2000)" test "$worst" -gt 0
check "no lease-expired event meanwhile" sh -c "! $PHLOEMCTL events --json 2>/dev/null | grep -q lease-expired"
check "the other devices were read meanwhile" test "$(dev meter reads)" -gt "$((reads0 + 5))"
ctl batt '{"mode": "exception"}'
check "a device that answers exceptions is in error" wait_for 40 dev_is batt state error
ctl batt '{"mode": "normal", "soc_raw": 25000}'
check "recovers after exceptions" wait_for 40 dev_is batt state online
check "an out-of-range SoC (250 %) is unknown" wait_for 5 dev_is batt soc_pct None
check "an out-of-range value is an event" wait_for 5 sh -c "$PHLOEMCTL events --json 2>/dev/null | grep -q 'out of range: ChaState'"
check "device events reach history" sh -c "$PHLOEMCTL events --json 2>/dev/null | grep -q '\"kind\": *\"device\"'"
stop_pd

# ---- 2: battery: held at reserve, peak shaving, refused write ----
PB2=$(port)
sim b2 battery --tcp "$PB2" --base 40000
ctl b2 '{"soc_pct": 15}'
{
	common_conf 10
	cat <<EOC
[site]
peak_shaving_target_w = 1000

[sim]
device_power = site $T/b2/power

[device b2]
url = tcp://127.0.0.1:$PB2
poll_ms = 200
control = yes
reserve_pct = 20
EOC
} >"$T/pd.conf"
start_pd
check "battery online" wait_for 10 dev_is b2 state online
sleep 2
check "battery at its reserve is not discharged (site 2300 W, peak 1000 W)" dev_is b2 ac_w 0.0
check "held at reserve: site power unchanged" sh -c "$PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not d[\"site_p_w\"] > 2200)'"
ctl b2 '{"soc_pct": 80}'
check "above reserve it shaves the peak to 1000 W" wait_for 10 sh -c "$PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not 900 < d[\"site_p_w\"] < 1100)'"
check "setpoint read back" sh -c "test \"\$($PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(int(d[\"devices\"][0][\"setpoint_w\"]) > 1100)')\" = True"
check "setpoint written as model 124 StorCtl_Mod discharge" grep -q ' 2$' "$T/b2/writes"
ctl b2 '{"soc_pct": 80, "clamp_rate_pct": 10}'
# move the load so a new setpoint is needed: the battery keeps 10 %
sed -i 's/^peak_shaving_target_w = 1000/peak_shaving_target_w = 500/' "$T/pd.conf"
kill -HUP "$PD"
check "a write the device does not keep is refused (event)" wait_for 10 sh -c "$PHLOEMCTL events --json 2>/dev/null | grep -q 'read back differs'"
check "refusals counted" test "$(dev b2 refused)" -ge 1
stop_pd
dev_wh() { sqlite3 "$T/h.db" "SELECT coalesce(sum($2), 0) FROM minute WHERE channel = 'dev:$1'"; }
check "the battery's discharge is in the history's minutes ($(dev_wh b2 export_mwh) mWh)" \
	test "$(dev_wh b2 export_mwh)" -gt 0

# ---- 3: PV curtailed to the export limit ----
PI3=$(port)
sim i3 inverter --tcp "$PI3" --base 40000
ctl i3 '{"pv_avail_w": 4000}'
{
	common_conf 1
	cat <<EOC
[site]
export_limit_w = 1000

[sim]
device_power = site $T/i3/power

[device i3]
url = tcp://127.0.0.1:$PI3
poll_ms = 200
control = yes
EOC
} >"$T/pd.conf"
start_pd
check "inverter online" wait_for 10 dev_is i3 state online
check "export held at the 1000 W limit" wait_for 15 sh -c "$PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not -1100 < d[\"site_p_w\"] < -850)'"
check "by a PV limit below 100 %" sh -c "$PHLOEMCTL status --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not d[\"devices\"][0][\"pv_limit_pct\"] < 100)'"
ctl i3 '{"pv_avail_w": 800}'
check "released when the sun goes (no export to limit)" wait_for 15 dev_is i3 pv_limit_pct 100.0
json_ok() { status | is_json; }
check "status --json stays valid" json_ok
stop_pd
check "the PV production is in the history's minutes ($(dev_wh i3 export_mwh) mWh)" \
	test "$(dev_wh i3 export_mwh)" -gt 0

# ---- 4: several batteries share a setpoint; several inverters are curtailed alike ----
# several KIND EXTRA_CONF NAME:CONTROL_JSON...: a simulator of KIND per
# NAME, on the sim's site wires ($T/sim.conf) and controlled by phloemd
# ($T/dev.conf, each section with EXTRA_CONF)
several() {
	local kind=$1 extra=$2 a name p; shift 2
	for a in "$@"; do
		name=${a%%:*} p=$(port)
		sim "$name" "$kind" --tcp "$p" --base 40000
		ctl "$name" "${a#*:}"
		printf 'device_power = site %s/%s/power\n' "$T" "$name" >>"$T/sim.conf"
		printf '\n[device %s]\nurl = tcp://127.0.0.1:%s\npoll_ms = 200\ncontrol = yes\n%s' \
			"$name" "$p" "$extra" >>"$T/dev.conf"
	done
}
: >"$T/sim.conf"; : >"$T/dev.conf"
several battery 'reserve_pct = 20
' 'b4a:{"soc_pct": 80}' 'b4b:{"soc_pct": 40}' 'b4c:{"soc_pct": 15}'
{
	common_conf 10
	printf '[site]\npeak_shaving_target_w = 1000\n\n[sim]\n'
	cat "$T/sim.conf" "$T/dev.conf"
} >"$T/pd.conf"
start_pd
# sj EXPR: true when the Python EXPR holds of status --json (d: all of it,
# D: the devices by name, w(NAME, FIELD): a device's value, None as 0)
sj() {
	status | $PY -c 'import json,sys
d = json.load(sys.stdin)
D = {x["name"]: x for x in d["devices"]}
w = lambda n, f: D[n][f] or 0
sys.exit(0 if ('"$1"') else 1)'
}
check "three batteries online" wait_for 10 sj 'sum(x["state"] == "online" for x in d["devices"]) == 3'
check "together they shave the peak to 1000 W (site 2300 W)" wait_for 15 sj '880 < d["site_p_w"] < 1120'
check "site battery power is the batteries' sum" sj 'abs(d["battery_w"] - sum(w(n, "ac_w") for n in D)) <= 1'
# energy above the 20 % reserve: 60 % of b4a, 20 % of b4b (same capacity): 3 : 1
shares() { status | jget '" ".join(str(x["setpoint_w"]) for x in d["devices"])'; }
check "split by energy above reserve, 3 : 1 ($(shares))" \
	wait_for 5 sj 'w("b4a", "setpoint_w") > 0 and w("b4b", "setpoint_w") > 0 and 2.4 < w("b4a", "setpoint_w") / w("b4b", "setpoint_w") < 3.6'
check "the battery at its reserve is not discharged" sj 'w("b4c", "setpoint_w") <= 0 and w("b4c", "ac_w") <= 0'
check "each setpoint within its battery's rate" sj 'all(abs(w(n, "setpoint_w")) <= 3000 for n in D)'
stop_pd

: >"$T/sim.conf"; : >"$T/dev.conf"
several inverter '' 'i4a:{"pv_avail_w": 4000}' 'i4b:{"pv_avail_w": 3000}'
{
	common_conf 1
	printf '[site]\nexport_limit_w = 1000\n\n[sim]\n'
	cat "$T/sim.conf" "$T/dev.conf"
} >"$T/pd.conf"
start_pd
check "two inverters online" wait_for 10 sj 'sum(x["state"] == "online" for x in d["devices"]) == 2'
check "export of 7000 W of PV held at the 1000 W limit" wait_for 20 sj '-1120 < d["site_p_w"] < -850'
check "both curtailed to the same share of their rating" \
	wait_for 5 sj 'w("i4a", "pv_limit_pct") == w("i4b", "pv_limit_pct") < 100'
check "site PV is their sum" sj 'abs(d["pv_w"] - sum(w(n, "ac_w") for n in D)) <= 1'
stop_pd

done_testing
