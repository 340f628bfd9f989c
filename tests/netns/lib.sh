#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Many phloem gateways on one segment, each in its own network namespace,
# in the style of WireGuard's tests/netns.sh. Sourced by netns.sh (the
# check) and bench.sh (the benchmark).
#
#   phl-gw1            phl-gw2                  phl-gwN
#   phloemd (sim)      phloemd (sim)            phloemd (sim)
#   eth0 10.77.0.1     eth0 10.77.0.2    ...    eth0 10.77.0.N
#        fd77::1/64         fd77::2/64               fd77::N/64
#        fe80::/64          fe80::/64                fe80::/64
#     |                  |                        |
#     | veth             | veth                   | veth
#   ==p1=================p2=======================pN==== phl-br0 (bridge,
#   phl-br (namespace)                                    multicast flooded)
#             phl-br1: group B's ports go there for a partition
#             hub:     tests/netns/hub.py forwards between the ports
#                      instead of the bridge when the kernel has no netem
#
# Every node has its own data directory $NT/gwN (config, control socket,
# history database, identity and ledger). The root namespace only runs
# the scripts: nothing is configured there, so a failed run leaves at
# most stray namespaces, which netns_cleanup removes (it is the EXIT trap).
set -u
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}
NETNS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# One prefix per run so that two runs (a check and a bench) never share
# namespace names; the prefix is short: interface names stay < 16 bytes.
PFX=${PHL_PREFIX:-phl$$}
BR=$PFX-br
NT=${NT:-}
N=0
declare -a PID=()
HUB_PID=

gw() { echo "$PFX-gw$1"; }
# on NODE CMD...: run CMD inside node NODE's namespace
on() { local i=$1; shift; ip netns exec "$(gw "$i")" "$@"; }
inbr() { ip netns exec "$BR" "$@"; }
ctl() { local i=$1; shift; PHLOEMD_SOCKET=$NT/gw$i/sock PHLOEM_DIR=$NT/gw$i/data "$PHLOEMCTL" "$@"; }

netns_cleanup() {
	local i ns pid
	[ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null
	for i in "${!PID[@]}"; do
		[ -n "${PID[$i]}" ] && kill "${PID[$i]}" 2>/dev/null
	done
	# and anything else still running in our namespaces (a helper that a
	# failed step left behind): by PID, from the namespace's own list
	for ns in $(ip netns list | awk -v p="$PFX-" 'index($1, p) == 1 { print $1 }'); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	done
	wait 2>/dev/null
	for ns in $(ip netns list | awk -v p="$PFX-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$NT" ] && [ -z "${KEEP:-}" ] && rm -rf "$NT"
	neigh_restore
	return 0
}

# The kernel's neighbour tables (ARP, ND) are one per family for all
# namespaces together, 1024 entries by default (gc_thresh3): N gateways
# that all talk to each other need about N * N per family, so 50 of them
# overflow it ("neighbor table overflow!"), datagrams wait on unresolved
# neighbours and are lost. A real gateway has a table of its own; the
# test raises the shared one for the run and puts it back afterwards.
NEIGH_SAVED=()
neigh_raise() {	# neigh_raise N
	local f v want=$(( 4 * $1 * $1 + 1024 ))
	for f in ipv4 ipv6; do
		for v in 1 2 3; do
			local k=/proc/sys/net/$f/neigh/default/gc_thresh$v cur
			cur=$(cat "$k") || continue
			NEIGH_SAVED+=("$k=$cur")
			[ "$cur" -lt $(( want * v / 3 )) ] && echo $(( want * v / 3 )) >"$k"
		done
	done
	return 0
}
neigh_restore() {
	local kv
	for kv in "${NEIGH_SAVED[@]}"; do echo "${kv#*=}" >"${kv%%=*}"; done
	NEIGH_SAVED=()
}

# topo_up N: the bridge namespace and N gateway namespaces
topo_up() {
	local i
	N=$1
	neigh_raise "$N"
	ip netns add "$BR" || return 1
	inbr ip link set lo up
	inbr ip link add br0 type bridge mcast_snooping 0 || return 1
	inbr ip link add br1 type bridge mcast_snooping 0 || return 1
	inbr ip link set br0 up
	inbr ip link set br1 up
	for i in $(seq 1 "$N"); do
		ip netns add "$(gw "$i")" || return 1
		on "$i" ip link set lo up
		# created in the gateway namespace, its peer moved to the bridge's
		on "$i" ip link add eth0 type veth peer name p$i netns "$BR" || return 1
		on "$i" ip addr add 10.77.0.$i/24 dev eth0
		on "$i" ip addr add fd77::$i/64 dev eth0 nodad
		on "$i" ip link set eth0 multicast on up
		inbr ip link set p$i master br0 multicast on up
	done
	# link-local addresses come up with the link; DAD takes about a second
	wait_ll 10
}

ll_ready() { local i; for i in $(seq 1 "$N"); do
	on "$i" ip -6 addr show dev eth0 scope link | grep -q 'inet6 fe80' || return 1
	on "$i" ip -6 addr show dev eth0 tentative | grep -q inet6 && return 1
done; return 0; }
wait_ll() { local t=$(( $1 * 5 )); while [ $t -gt 0 ]; do ll_ready && return 0; sleep 0.2; t=$((t - 1)); done; return 1; }

# ---- one phloemd per namespace ----
# site_a I: gw I's own site load in A; a caller may redefine it (a
# negative current exports, as PV does)
site_a() { echo $(( 1 + $1 % 5 )); }

# node_conf I: write gw I's configuration. PEER_CONF (a function, set by the
# caller) prints the [peers] section for node I, so that this file does not
# guess the peer protocol's keys.
node_conf() {
	local i=$1 d=$NT/gw$1
	mkdir -p "$d/data"
	cat >"$d/phloemd.conf" <<EOC
# gateway $i of $N, generated by tests/netns/lib.sh
[agent]
backend = sim
socket = $d/sock
lease_s = 3
user =

[site]
import_limit_w = 20000

[circuit site]
channel = i0
breaker_a = 63
sim_base_a = $(site_a "$i")

[relay heater]
circuit = site
priority = 10
sim_load_a = 8

[history]
db = $d/h.db
retention_days = 1
EOC
	if declare -F PEER_CONF >/dev/null; then PEER_CONF "$i" >>"$d/phloemd.conf"; fi
}

node_start() {
	local i=$1 d=$NT/gw$1
	rm -f "$d/sock"
	# a simple command, so that $! is phloemd itself (ip netns exec execs it)
	PHLOEM_DIR=$d/data ip netns exec "$(gw "$i")" "$PHLOEMD" -c "$d/phloemd.conf" 2>>"$d/log" &
	PID[$i]=$!
}
node_up() { test -S "$NT/gw$1/sock" && ctl "$1" status >/dev/null 2>&1; }
node_kill() {	# node_kill I [SIGNAL]
	local i=$1
	[ -n "${PID[$i]:-}" ] || return 0
	kill -"${2:-TERM}" "${PID[$i]}" 2>/dev/null
	wait "${PID[$i]}" 2>/dev/null
	PID[$i]=
}
# nodes_up SECONDS: every node answers on its control socket
nodes_up() {
	local t=$(( $1 * 5 )) i
	for i in $(seq 1 "$N"); do
		while ! node_up "$i"; do
			t=$((t - 1)); [ $t -gt 0 ] || return 1
			sleep 0.2
		done
	done
}

# ---- partitions: group B's ports move to the other bridge ----
partition() {	# partition FIRST LAST: nodes FIRST..LAST on their own segment
	local i
	for i in $(seq "$1" "$2"); do inbr ip link set p$i master br1 || return 1; done
}
heal() {
	local i
	for i in $(seq 1 "$N"); do inbr ip link set p$i master br0 || return 1; done
}
# isolate I / rejoin I: one node's port down (a cable pulled)
isolate() { inbr ip link set p$1 down; }
rejoin() { inbr ip link set p$1 up; }

# ---- impairment: loss and reordering on every port ----
# With sch_netem, a qdisc on each bridge port's egress (towards the node)
# drops LOSS% and delays a share of packets so that they overtake each
# other. Without it (this machine's kernel has none), hub.c ($HUB; else
# hub.py, the same in Python) takes the
# ports off the bridge and forwards frames itself with the same loss and
# a random per-frame delay, which reorders.
IMPAIR=
impair() {	# impair LOSS_PERCENT
	local i loss=$1
	if inbr tc qdisc add dev p1 root netem loss "$loss%" delay 10ms 5ms reorder 25% 50% 2>/dev/null; then
		IMPAIR=netem
		for i in $(seq 2 "$N"); do
			inbr tc qdisc add dev p$i root netem loss "$loss%" delay 10ms 5ms reorder 25% 50% || return 1
		done
		return 0
	fi
	IMPAIR=hub
	for i in $(seq 1 "$N"); do inbr ip link set p$i nomaster || return 1; done
	# the C hub (tests/netns/hub.c) when built: Python's queueing delays
	# at 50 nodes on a loaded machine would be measured instead of the loss
	local hub="python3 $NETNS_DIR/hub.py"
	[ -x "${HUB:-}" ] && hub=$HUB
	ip netns exec "$BR" $hub --loss "$loss" --delay-ms 20 \
		--stats "$NT/hub.stats" $(for i in $(seq 1 "$N"); do echo p$i; done) 2>>"$NT/hub.log" &
	HUB_PID=$!
	# the hub reports readiness by creating its stats file
	local t=50
	while [ ! -s "$NT/hub.stats" ] && [ $t -gt 0 ]; do sleep 0.1; t=$((t - 1)); done
	[ -s "$NT/hub.stats" ]
}
unimpair() {
	local i
	if [ "$IMPAIR" = netem ]; then
		for i in $(seq 1 "$N"); do inbr tc qdisc del dev p$i root 2>/dev/null; done
	elif [ "$IMPAIR" = hub ]; then
		kill "$HUB_PID" 2>/dev/null; wait "$HUB_PID" 2>/dev/null; HUB_PID=
		heal
	fi
	IMPAIR=
}

# ---- byte counters: what a node sent and received on its segment ----
tx_bytes() { on "$1" cat /sys/class/net/eth0/statistics/tx_bytes; }
rx_bytes() { on "$1" cat /sys/class/net/eth0/statistics/rx_bytes; }

# within SECONDS CMD...: poll CMD until it succeeds, for at most SECONDS of
# wall time (a round over 50 nodes can itself take seconds)
within() {
	local end=$((SECONDS + $1)); shift
	while :; do
		"$@" && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ---- JSON helpers ----
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
