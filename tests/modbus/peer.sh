#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-modbus-peer: a site's PV, read over Modbus/SunSpec, reaches its
# neighbour. Two phloemd processes (sim backend) on loopback UDP:
#
#   sunspec_sim.py inverter (4000 W PV) --Modbus TCP--> g1  site 2 A load
#         | power file -> [sim] device_power               |  gossip, ledger sync
#         v                                                 v
#   g1's site meter sees -4000 W + 460 W               g2  site 10 A load (2300 W)
#
# g2's view, by `phloemctl peers --json`: g1's measurement counts its PV
# (production 4000 W, net about -3540 W), the community's net power is
# about -1240 W (it would be +2760 W without the PV), and g1's metered
# entries, synced into g2's ledger, carry the clean part of g1's export
# (the PV covered all of it), which `phloemctl settle` on g2's ledger uses.
# Env: PHLOEMD, PHLOEMCTL. TAP on stdout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../agent/lib.sh"
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}
PY=/usr/bin/python3
LEN=10

echo "TAP version 13"
T=$(mktemp -d /tmp/phloem-mbpeer.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

tcp_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
udp_port() { $PY -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
U1=$(udp_port); U2=$(udp_port); PI=$(tcp_port)

mkdir -p "$T/inv"
echo '{"pv_avail_w": 4000}' >"$T/inv/control.json"
$PY "$here/sunspec_sim.py" inverter --tcp "$PI" --base 40000 --dir "$T/inv" >>"$T/inv/log" 2>&1 &
PIDS+=($!)
wait_for 10 test -e "$T/inv/ready" || notok "inverter simulator started"

conf() {	# conf N SITE_A
	cat <<EOC
[agent]
backend = sim
socket = $T/g$1/sock
lease_s = 3
sample_ms = 100
user =
group = nogroup

[circuit site]
channel = i0
breaker_a = 63
sim_base_a = $2

[history]
db = $T/g$1/h.db

[peers]
community = pvstreet
port = $(eval echo \$U$1)
static = 127.0.0.1:$U1, 127.0.0.1:$U2
announce_ms = 300
settle_interval_s = $LEN
identity = $T/g$1/identity.key
state = $T/g$1/community
ledger = $T/g$1/ledger.db
EOC
}
for i in 1 2; do
	mkdir -p "$T/g$i"
	"$PHLOEMCTL" --dir "$T/g$i" identity init >/dev/null || notok "identity init g$i"
done
{
	conf 1 2
	printf '\n[sim]\ndevice_power = site %s\n' "$T/inv/power"
	printf '\n[device pv]\nurl = tcp://127.0.0.1:%s\npoll_ms = 200\n' "$PI"
} >"$T/g1/conf"
conf 2 10 >"$T/g2/conf"

for i in 1 2; do
	"$PHLOEMD" -c "$T/g$i/conf" >>"$T/g$i/log" 2>&1 &
	PIDS+=($!)
	wait_for 10 test -S "$T/g$i/sock" || notok "g$i started"
done
ctl() { local g=$1; shift; PHLOEMD_SOCKET=$T/g$g/sock "$PHLOEMCTL" "$@"; }
key() { ctl "$1" peers --json | jget 'd["key"]'; }
k1=$(key 1); k2=$(key 2)
tok=$(ctl 1 community invite "$k2") && ctl 2 community join "$tok" >/dev/null
members() { for i in 1 2; do ctl "$i" peers --json | jget 'd["members"]' | grep -qx 2 || return 1; done; }
check "g1 and g2 form one community" wait_for 15 members

pv_online() { [ "$(ctl 1 status --json | jget 'd["pv_w"]')" = 4000.0 ]; }
check "g1 reads its inverter: site PV 4000 W" wait_for 10 pv_online
g1_net() { ctl 1 status --json | jget 'int(d["site_p_w"])'; }
check "g1's site meter sees the PV: net about -3540 W ($(g1_net) W)" \
	wait_for 5 sh -c "n=\$(PHLOEMD_SOCKET=$T/g1/sock $PHLOEMCTL status --json | $PY -c 'import json,sys; print(int(json.load(sys.stdin)[\"site_p_w\"]))'); [ \$n -gt -3650 ] && [ \$n -lt -3430 ]"

# g2's view of g1, from gossip
peer_g1() {	# peer_g1 FIELD: g2's record of g1
	ctl 2 peers --json | jget "[p for p in d['peers'] if p['key'] == '$k1'][0]['$1']"
}
prod_ok() { [ "$(peer_g1 production_w 2>/dev/null)" = 4000 ]; }
check "g2 sees g1's production: its PV, 4000 W" wait_for 15 prod_ok
net_ok() { local w; w=$(peer_g1 net_w 2>/dev/null) && [ "$w" -gt -3650 ] && [ "$w" -lt -3430 ]; }
check "g2 sees g1's net: export of PV minus load ($(peer_g1 net_w 2>/dev/null) W)" wait_for 10 net_ok
comm() { ctl 2 peers --json | jget 'str(d["community_counted"]) + " " + str(d["community_net_w"])'; }
comm_ok() {
	set -- $(comm)
	[ "$1" = 2 ] && [ "$2" -gt -1400 ] && [ "$2" -lt -1080 ]
}
check "g2's community net power counts g1's PV: about -1240 W ($(comm))" wait_for 10 comm_ok

# the clean part of g1's export: on g1's chain, synced to g2
clean_entries() {	# clean_entries G: "start export clean" of g1's meter entries in gG's ledger
	"$PHLOEMCTL" --dir "$T/g$1" ledger history --author "$k1" --json 2>/dev/null |
		$PY -c 'import json,sys
for e in json.load(sys.stdin):
	if e["type"] == "meter" and "wh_clean" in e: print(e["interval_start"], e["wh_export"], e["wh_clean"])'
}
# a whole interval after the first: at least two entries, the second whole
two_whole() { [ "$(clean_entries 2 | wc -l)" -ge 2 ]; }
check "g1's metered entries with a clean part reach g2's ledger" wait_for $((3 * LEN + 10)) two_whole
read -r start exp clean <<<"$(clean_entries 2 | sed -n 2p)"
# 3540 W for 10 s is 9.8 Wh; the PV (4000 W) covered all of it. The clean
# part is floored without a carried remainder (the export carries its own),
# and a sample while the inverter's reading is unknown (a poll timed out on
# a loaded host) is not clean: up to 2 Wh less, never more
check "a whole interval: export ${exp:-?} Wh, clean ${clean:-?} Wh (all of it, floored)" \
	test -n "${exp:-}" -a "${exp:-0}" -ge 9 -a "${exp:-0}" -le 11 -a \
	"${clean:-99}" -le "${exp:-0}" -a "${clean:-0}" -ge $(( ${exp:-0} - 2 ))
check "g1's own chain says the same" sh -c "clean=\$($PHLOEMCTL --dir $T/g1 ledger history --author $k1 --json | $PY -c 'import json,sys; print([e[\"wh_clean\"] for e in json.load(sys.stdin) if e[\"type\"] == \"meter\" and e[\"interval_start\"] == $start][0])'); [ \$clean = $clean ]"
check "g1's meter says so in status" sh -c "PHLOEMD_SOCKET=$T/g1/sock $PHLOEMCTL status --json | grep -q '\"wh_clean\"'"
# settlement on g2's ledger: g1's clean export is its clean part
out=$("$PHLOEMCTL" settle --dir "$T/g2" --interval "$start/$LEN" --canonical 2>&1)
check "g2 settles the interval with g1's export clean (clean ... export=$clean)" \
	grep -q "^clean [0-9a-f]* export=$clean available=" <<<"$out"
out1=$("$PHLOEMCTL" settle --dir "$T/g1" --interval "$start/$LEN" --canonical 2>&1)
check "g1 and g2 compute the same settlement, byte for byte" test "$out" = "$out1"

done_testing
