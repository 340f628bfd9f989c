#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# phloemd's MQTT client against a real broker. TAP on stdout.
#
#   phloemctl --(socket)--> phloemd (sim) --(MQTT 3.1.1, QoS 1)--> mosquitto
#                                                 127.0.0.1:random |
#                          mosquitto_pub (commands) ---------------+
#                          mosquitto_sub -c (recorder, persistent) <--+
#
# Env: PHLOEMD, PHLOEMCTL. Needs Debian's mosquitto and mosquitto-clients.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../agent/lib.sh"
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}
for t in mosquitto mosquitto_sub mosquitto_pub mosquitto_passwd; do
	command -v $t >/dev/null || { skip "mqtt" "$t not installed (make deps)"; done_testing; exit; }
done

T=$(mktemp -d /tmp/phloem-mqtt.XXXXXX)
export PHLOEMD_SOCKET=$T/sock
PID= BPID= SPID=
cleanup() {
	for p in $PID $SPID $BPID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] && cp -r "$T" "$KEEP"
	rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" INT TERM
# a free port: bind 0, read it, close (the broker binds it right after)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$T/broker.conf" <<EOC
listener $PORT 127.0.0.1
allow_anonymous false
password_file $T/pw
persistence true
persistence_location $T/
autosave_interval 1
user $(id -un)
EOC
mosquitto_passwd -c -b "$T/pw" phloemd pd-secret 2>/dev/null
mosquitto_passwd -b "$T/pw" ha ha-secret 2>/dev/null
chmod 600 "$T/pw"
broker() { mosquitto -c "$T/broker.conf" >>"$T/broker.log" 2>&1 & BPID=$!; }
broker_up() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -u ha -P ha-secret -t probe -n 2>/dev/null; }
sub() { mosquitto_sub -h 127.0.0.1 -p "$PORT" -u ha -P ha-secret "$@"; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -u ha -P ha-secret -q 1 "$@"; }
ctl() { "$PHLOEMCTL" "$@"; }

. "$here/../web/house.sh"
conf() {	# conf EXTRA_MQTT_LINES
	house_conf "$T"
	cat <<EOC

[sim]
restore_delay_s = 1
step = 3 garage 15

[mqtt]
host = 127.0.0.1
port = $PORT
username = phloemd
password = pd-secret
node_id = house1
interval_s = 1
$1
EOC
}

# ---- configuration ----
conf "commands = yes" >"$T/nouser.conf"
sed -i '/^username/d; /^password/d' "$T/nouser.conf"
out=$("$PHLOEMD" --check -c "$T/nouser.conf" 2>&1)
check "commands without broker authentication refused" grep -q "commands = yes needs username" <<<"$out"
conf "commands = yes" >"$T/noallow.conf"
check "commands without an allow list refused" bash -c "! '$PHLOEMD' --check -c '$T/noallow.conf' 2>/dev/null"
conf "bogus = 1" >"$T/bad.conf"
out=$("$PHLOEMD" --check -c "$T/bad.conf" 2>&1)
check "unknown [mqtt] key refused with its line" grep -q "bad.conf:[0-9]*: \[mqtt\] bogus: unknown key" <<<"$out"
conf "tls = yes" >"$T/tls.conf"
check "tls without cafile refused" bash -c "! '$PHLOEMD' --check -c '$T/tls.conf' 2>/dev/null"

# ---- start: daemon first, broker later (it must wait and connect) ----
# The recorder's persistent session is made first (broker up, subscribe,
# broker killed after its 1 s autosave): the broker then keeps for it what
# phloemd sends before the recorder is back.
broker
wait_for 10 broker_up
# not through sub(): $! must be mosquitto_sub itself, for the cleanup
mosquitto_sub -h 127.0.0.1 -p "$PORT" -u ha -P ha-secret -v -t '#' -i recorder -c -q 1 >"$T/rec" 2>>"$T/sub.log" &
SPID=$!
sleep 2.5
kill -9 "$BPID"; wait "$BPID" 2>/dev/null
conf "commands = yes
allow = ev limits" >"$T/t.conf"
"$PHLOEMD" -c "$T/t.conf" 2>>"$T/log" &
PID=$!
check "phloemd runs with the broker down" wait_for 10 test -S "$T/sock"
broker
wait_for 10 broker_up
check "connects once the broker is up" wait_for 10 grep -q "mqtt: connected" "$T/log"
check "availability says online (retained)" wait_for 5 bash -c "$(declare -f sub); PORT=$PORT sub -C 1 -W 3 -t phloem/house1/status | grep -qx online"
check "an overload shed reaches MQTT as an event" wait_for 15 grep -q '^phloem/house1/event .*"kind":"shed"' "$T/rec"
sleep 2	# a period of state after the shed

# ---- discovery ----
sub -v -t 'homeassistant/#' -t 'phloem/#' -W 3 >"$T/retained" 2>/dev/null
# the counters as phloemctl has them right after (not after the checks
# below, which take seconds on a loaded machine while energy keeps flowing)
ctl channels --json >"$T/channels"
check "discovery configs valid for Home Assistant (sensor, switch, binary_sensor)" \
	python3 "$here/ha_check.py" homeassistant "$T/retained"
printf '%s\n' \
  'homeassistant/sensor/x/e/config {"name":"e","unique_id":"x_e","state_topic":"s","device_class":"energy","unit_of_measurement":"KWh","state_class":"measurement","device":{"identifiers":["x"],"colour":"red"}}' \
  's {"v":1}' >"$T/badcfg"
check "the checker refuses a bad unit, state class and device key" \
	bash -c "out=\$(python3 '$here/ha_check.py' homeassistant '$T/badcfg'); [ \$? = 1 ] && grep -q KWh <<<\"\$out\" && grep -q 'state_class' <<<\"\$out\" && grep -q colour <<<\"\$out\""
check "energy sensors are total_increasing kWh" \
	bash -c "grep '^homeassistant/sensor/house1/import_garage/config' '$T/retained' | grep -q '\"device_class\":\"energy\",\"unit_of_measurement\":\"kWh\",\"state_class\":\"total_increasing\"'"
check "an allowed relay is a switch, another a binary_sensor" \
	bash -c "grep -q '^homeassistant/switch/house1/relay_ev/config' '$T/retained' && grep -q '^homeassistant/binary_sensor/house1/relay_heater/config' '$T/retained'"

# ---- values against phloemctl --json ----
last() { grep "^$1 " "$T/retained" | tail -1 | cut -d' ' -f2-; }
vs=$(ctl status --json)
check "voltage and frequency as phloemctl reports them" python3 - "$(last phloem/house1/state)" "$vs" <<'EOP'
import json, sys
m, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert abs(m["vrms_v"] - s["vrms_v"]) < 0.5 and abs(m["freq_hz"] - s["freq_hz"]) < 0.05, (m, s)
assert m["site_import_limit_w"] == s["site_import_limit_w"]
EOP
check "relay states and circuit limits as phloemctl reports them" python3 - "$T/retained" "$(ctl relays --json)" "$(ctl limits --json)" <<'EOP'
import json, sys
last = {}
for l in open(sys.argv[1]):
    t, _, p = l.rstrip("\n").partition(" ")
    last[t] = p
for r in json.loads(sys.argv[2])["relays"]:
    assert last["phloem/house1/relay/%s/state" % r["name"]] == ("ON" if r["on"] else "OFF"), r
for c in json.loads(sys.argv[3])["circuits"]:
    m = json.loads(last["phloem/house1/circuit/%s" % c["name"]])
    assert abs(m["limit_a"] * 1000 - c["limit_ma"]) < 1, (m, c)
EOP
check "energy counters as phloemctl reports them (never ahead of it)" python3 - "$T/retained" "$(cat "$T/channels")" <<'EOP'
import json, sys
last = {}
for l in open(sys.argv[1]):
    t, _, p = l.rstrip("\n").partition(" ")
    last[t] = p
n = 0
for c in json.loads(sys.argv[2])["channels"]:
    if c["kind"] != "current":
        continue
    m = json.loads(last["phloem/house1/energy/%s" % c["name"]])
    # read before phloemctl: at most a few seconds of energy behind it
    assert 0 <= c["import_wh"] - m["import_wh"] < 0.01 * c["import_wh"] + 20, (m, c)
    assert abs(m["import_kwh"] * 1000 - m["import_wh"]) < 0.01
    n += 1
assert n == 2
EOP

# ---- commands ----
res() { grep -c '^phloem/house1/command/result ' "$T/rec"; }
r0=$(res)
ev0=$(ctl status --json | jget 'd["events_seen"]')
ov0=$(ctl relays --json | jget '[r["override"] for r in d["relays"]]')
for p in 'bogus' '' '{"mode":"sideways"}' '{"mode":"on","for_s":0}' '{"mode":"on","for_s":"ten"}' \
	 '{"mode":"on","cmd":"limits-reset"}' '[1,2]' '{"mode":"on"' "$(head -c 600 /dev/zero | tr '\0' x)"; do
	pub -t phloem/house1/relay/ev/set -m "$p" 2>/dev/null || pub -t phloem/house1/relay/ev/set -n
done
pub -t phloem/house1/relay/heater/set -m OFF
pub -t phloem/house1/limits/set -m '{"circuit":"garage","limit_a":"x"}'
pub -t phloem/house1/limits/set -m '{"reset":true,"site_w":5}'
pub -t phloem/house1/limits/set -m '{"circuit":"nowhere","limit_a":10}'
check "12 bad commands: 12 refusals reported" wait_for 5 bash -c "[ \$(grep -c '^phloem/house1/command/result .*\"ok\":false' '$T/rec') -ge 12 ]"
grep '^phloem/house1/command/result' "$T/rec" | cut -d' ' -f2- | cut -c1-120 | sort | uniq -c | sed 's/^/# /'
check "and changed nothing (no event, overrides as before)" \
	test "$(ctl status --json | jget 'd["events_seen"]') $(ctl relays --json | jget '[r["override"] for r in d["relays"]]')" = "$ev0 $ov0"
pub -t phloem/house1/relay/ev/set -m '{"mode":"off","for_s":60}'
ev_override() { ctl relays --json | jget '[r["override"] for r in d["relays"] if r["name"] == "ev"][0]'; }
check "a good command goes through the socket's action (override off)" \
	wait_for 5 bash -c "[ \"\$($(declare -f ev_override ctl jget); PHLOEMCTL='$PHLOEMCTL' ev_override)\" = off ]"
pub -t phloem/house1/limits/set -m '{"circuit":"garage","limit_a":18}'
check "a limits command sets the operator limit" \
	wait_for 5 bash -c "'$PHLOEMCTL' limits --json | python3 -c 'import json,sys; c=[c for c in json.load(sys.stdin)[\"circuits\"] if c[\"name\"]==\"garage\"][0]; sys.exit(not (c[\"operator\"] and c[\"limit_ma\"]==18000))'"
pub -t phloem/house1/relay/ev/set -m AUTO
pub -t phloem/house1/limits/set -m '{"reset":true}'

# ---- broker killed: nothing lost ----
before=$(ctl status --json | jget 'd["events_seen"]')
kill -9 "$BPID"; wait "$BPID" 2>/dev/null
sleep 1
ctl relays on ev --for 30s >/dev/null
ctl relays off ev --for 30s >/dev/null
ctl relays auto ev >/dev/null
check "phloemd keeps answering with the broker down" bash -c "'$PHLOEMCTL' status --json >/dev/null"
q=$(ctl status --json >/dev/null; sleep 1; grep -c "broker connection lost" "$T/log")
check "it noticed the broker went away" test "$q" -ge 1
seen=$(ctl status --json | jget 'd["events_seen"]')
sleep 2
broker
wait_for 10 broker_up
check "reconnects after the broker restarts" wait_for 40 bash -c "[ \$(grep -c 'mqtt: connected' '$T/log') -ge 2 ]"
allseq() { python3 - "$T/rec" "$@" <<'EOP'
import json, sys
got = set()
for l in open(sys.argv[1]):
    t, _, p = l.rstrip("\n").partition(" ")
    if t == "phloem/house1/event":
        got.add(json.loads(p)["seq"])
missing = set(range(1, int(sys.argv[2]) + 1)) - got
if missing and len(sys.argv) > 3:
    print("# missing events", sorted(missing)[:20])
sys.exit(1 if missing else 0)
EOP
}
check "every event ($seen, $((seen - before)) of them while the broker was down) delivered after the restart" wait_for 20 allseq "$seen"
allseq "$seen" diag
check "availability online again after the restart" wait_for 5 bash -c "$(declare -f sub); PORT=$PORT sub -C 1 -W 3 -t phloem/house1/status | grep -qx online"

# ---- TLS: a second listener, a CA of the test's own ----
if command -v openssl >/dev/null; then
	TPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout "$T/ca.key" \
		-out "$T/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$T/san"
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
		-extfile "$T/san" -out "$T/srv.crt" 2>/dev/null
	chmod 644 "$T"/*.key
	printf 'listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n' "$TPORT" \
		"$T/ca.crt" "$T/srv.crt" "$T/srv.key" >>"$T/broker.conf"
	kill "$BPID"; wait "$BPID" 2>/dev/null
	broker
	wait_for 10 broker_up
	kill "$PID"; wait "$PID" 2>/dev/null
	sed -i "s/^port = $PORT\$/port = $TPORT\ntls = yes\ncafile = ${T//\//\\/}\/ca.crt/" "$T/t.conf"
	"$PHLOEMD" -c "$T/t.conf" 2>>"$T/tls.log" &
	PID=$!
	check "TLS with username and password: connects and publishes" \
		wait_for 15 bash -c "grep -q 'mqtt: connected' '$T/tls.log' && timeout 3 mosquitto_sub -h 127.0.0.1 -p $TPORT --cafile '$T/ca.crt' -u ha -P ha-secret -C 1 -t phloem/house1/status | grep -qx online"
	printf 'wrong\n' >/dev/null
else
	skip "TLS" "openssl not installed"
fi

# ---- clean stop says offline ----
kill "$PID"; wait "$PID" 2>/dev/null; PID=
check "a stopped phloemd is offline (retained)" bash -c "$(declare -f sub); PORT=$PORT sub -C 1 -W 3 -t phloem/house1/status | grep -qx offline"
grep -q "mqtt: queue full" "$T/log" "$T/tls.log" 2>/dev/null && notok "queue overflowed" || ok "bounded queue never overflowed in this run"
done_testing
