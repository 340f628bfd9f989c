#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-netns: NETNS_N (default 20) phloemd processes, each in its own
# network namespace on one bridge (topology drawn in tests/netns/lib.sh),
# speaking the peer protocol (docs/protocol.md) over real veths with
# multicast discovery. TAP on stdout. Needs root and iproute2.
#
#   gw1 founds community "street" and invites every other gateway
#   (phloemctl community invite KEY / join TOKEN); then:
#   discovery -> community net power, and after a load change -> kill and
#   restart -> partition and heal -> injected datagrams from an attacker
#   namespace -> a hostile member (tests/netns/hostile.c, a valid membership)
#   trying every attack of the threat model -> 10% loss with reordering ->
#   the ledgers
#
# All along, energy is shared: every fourth gateway exports (PV, -12 A),
# the others import and declare credit limits; each meters its site into
# its own ledger chain every 10 s interval and the community settles each
# interval by counter-signed transfers, through the SIGKILL, the partition
# and the loss. At the end every ledger verifies, and the union of every
# member's own chain verifies, its balances sum to zero and each transfer
# a creditor signed is on its debtor's chain too.
#
# Env: PHLOEMD, PHLOEMCTL, HOSTILE; NETNS_N; KEEP=1 keeps the data directories.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../agent/lib.sh"	# ok/notok/check/diag/wait_for/done_testing

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (network namespaces)"
	exit 0
fi
NN=${NETNS_N:-20}
NT=$(mktemp -d /tmp/phl-netns.XXXXXX)
chmod 755 "$NT"
trap netns_cleanup EXIT


LEN=10		# settlement interval, s
PEER_CONF() {
	cat <<EOC

[peers]
community = street
interfaces = eth0
identity = $NT/gw$1/identity.key
state = $NT/gw$1/community
ledger = $NT/gw$1/ledger.db
settle_interval_s = $LEN
EOC
}
site_a() { [ $(( $1 % 4 )) = 0 ] && echo -12 || echo $(( 1 + $1 % 5 )); }
lg() { local i=$1; shift; "$PHLOEMCTL" --dir "$NT/gw$i" ledger "$@"; }

peers() { ctl "$1" peers --json; }
socks() { local i; for i in $(seq "$1" "$2"); do echo "$NT/gw$i/sock"; done; }
key() { peers "$1" | jget 'd["key"]'; }

# ---- convergence predicates, over every running node ----
# pollc COND SECONDS SOCKET...: tests/netns/poll.py, its time as a diagnostic
pollc() {
	local out rc a what=
	out=$(python3 "$here/poll.py" "$@"); rc=$?
	for a in "$@"; do case $a in */sock) ;; *) what="$what $a";; esac; done
	diag "poll$what at $(printf '%s\n' "$@" | grep -c '/sock$') nodes: $out s"
	return $rc
}
# net_sum FIRST LAST: the sum of the nodes' own net power
net_sum() { local i s=0 v; for i in $(seq "$1" "$2"); do v=$(peers "$i" | jget 'd["net_w"]') || return 1; s=$((s + v)); done; echo "$s"; }
# net_agree FIRST LAST: every node's community net power is the sum of the
# members' own figures (each member's load moves a little between samples:
# 2 % or 100 W)
net_agree() {
	local s i
	s=$(net_sum "$1" "$2") || return 1
	for i in $(seq "$1" "$2"); do
		peers "$i" | jget "1 if abs(d['community_net_w'] - $s) <= max(100, abs($s) // 50) else 0" | grep -qx 1 || return 1
	done
}
# agree NAME FIRST LAST: the net_agree check; on failure, what each node
# counts and how old its oldest measurement is
agree() {
	local f=$failed i
	check "$1" within 20 net_agree "$2" "$3"
	[ "$failed" -eq "$f" ] && return
	diag "own sum $(net_sum "$2" "$3") W; per node: community W / counted / oldest measurement ms"
	for i in $(seq "$2" "$3"); do
		diag "  gw$i: $(peers "$i" | jget "'%d / %d / %d' % (d['community_net_w'], d['community_counted'], max([p.get('measure_age_ms', -1) for p in d['peers']] or [-1]))")"
	done
}
# heard_everywhere I BEFORE_W: node I's measurement is 1500 W below
# BEFORE_W at every node (community_net_w alone would also fall when some
# measurement expires)
heard_everywhere() {	# heard_everywhere I BEFORE_W SINCE
	local k w
	read -r k w < <(peers "$1" | jget 'd["key"] + " " + str(d["net_w"])')
	pollc --since "$3" "heard:$k:$(($2 - 1500))" 30 $(socks 1 "$NN")
}
# elapsed CMD...: run CMD, print seconds taken to stdout's last line
now() { date +%s.%N; }
secs() { python3 -c "print('%.1f' % ($2 - $1))"; }

# ---- topology and daemons ----
check "$NN namespaces on a bridge, link-local addresses ready" topo_up "$NN"
limits=0
for i in $(seq 1 "$NN"); do
	node_conf "$i"
	mkdir -p "$NT/gw$i"
	"$PHLOEMCTL" --dir "$NT/gw$i" identity init >/dev/null &&
		{ [ $((i % 4)) = 0 ] || lg "$i" set-limit 1000000 >/dev/null; } && limits=$((limits + 1))
	node_start "$i"
done
check "every gateway has its identity, importers a credit limit ($limits)" test "$limits" -eq "$NN"
check "$NN phloemd processes answer on their control sockets" nodes_up 30

# ---- community by invitation: gw1 founds it, invites the others ----
invited=0
for i in $(seq 2 "$NN"); do
	k=$(key "$i") && tok=$(ctl 1 community invite "$k") && ctl "$i" community join "$tok" >/dev/null &&
		invited=$((invited + 1))
done
check "gw1 invited $((NN - 1)) gateways, each joined with its token ($invited)" test "$invited" -eq $((NN - 1))

t0=$(now)
check "all $NN discover each other: $((NN - 1)) peers alive at every node" \
	pollc alive 60 $(socks 1 "$NN")
diag "discovered everywhere after $(secs "$t0" "$(now)") s (after the last join)"
check "every node counts all $NN measurements in the community net power" \
	pollc counted 60 $(socks 1 "$NN")
agree "community net power = sum of the members' own, at every node" 1 "$NN"

# ---- one member changes its load ----
before=$(peers 5 | jget 'd["net_w"]')
t0=$(now)
ctl 5 relays off heater --for 10m >/dev/null
check "gw5 sheds its 8 A heater: every node holds its new measurement" heard_everywhere 5 "$before" "$t0"
agree "and agrees on the new sum" 1 "$NN"
ctl 5 relays auto heater >/dev/null

# ---- a member killed and restarted ----
k7=$(key 7)
state_at() { peers "$1" | jget "[p['state'] for p in d['peers'] if p['key'] == '$2'][0]" | grep -qxE "$3"; }
others_see() {	# others_see KEY STATE_RE: every node but 7
	local i
	for i in $(seq 1 "$NN"); do [ "$i" = 7 ] || state_at "$i" "$1" "$2" || return 1; done
}
node_kill 7 KILL
check "gw7 SIGKILLed: suspect or dead at every other node" within 30 others_see "$k7" 'suspect|dead'
node_start 7
t0=$(now)
check "gw7 restarted (same identity, new epoch): every node has all others alive" \
	pollc alive 60 $(socks 1 "$NN")
diag "rejoined everywhere after $(secs "$t0" "$(now)") s"

# ---- partition into two halves, then heal ----
H=$((NN / 2))
partition $((H + 1)) "$NN"
check "partition: nodes 1..$H see exactly the $((H - 1)) others of their side alive" \
	pollc alive 60 $(socks 1 "$H")
check "partition: nodes $((H + 1))..$NN see exactly the $((NN - H - 1)) others of their side alive" \
	pollc alive 60 $(socks $((H + 1)) "$NN")
heal
t0=$(now)
check "healed: every node has all $((NN - 1)) others alive" pollc alive 60 $(socks 1 "$NN")
diag "healed after $(secs "$t0" "$(now)") s"
agree "healed: net power agrees" 1 "$NN"

# ---- injected datagrams, from an attacker namespace on the bridge ----
X=$PFX-x
ip netns add "$X"
ip -n "$X" link set lo up
ip -n "$X" link add eth0 type veth peer name px netns "$BR"
ip -n "$X" addr add 10.77.0.250/24 dev eth0
ip -n "$BR" link set px master br0 up
ip -n "$X" link set eth0 up


drops() { peers 1 | jget "d['drops']['$1']"; }
# drops_above REASON N: gw1 has dropped more than N datagrams for REASON
# (a function, so that within re-reads the counter at every try)
drops_above() { [ "$(drops "$1")" -gt "$2" ]; }
# A genuine sealed datagram that gw1 received, captured off its link:
# resent as is, it must be refused as a replay (its counter is used).
on 1 python3 "$here/inject.py" capture eth0 7068 "$NT/captured" 10 &
cap=$!
check "captured a sealed datagram addressed to gw1" wait $cap
k1=$(key 1); k2=$(key 2); ep1=$(peers 1 | jget 'd["epoch"]')
r0=$(drops replayed)
ip netns exec "$X" python3 "$here/inject.py" replay 10.77.0.1 7068 "$NT/captured"
check "the captured datagram resent from elsewhere: dropped as replayed" \
	within 5 drops_above replayed "$r0"
t0=$(drops truncated)
ip netns exec "$X" python3 "$here/inject.py" truncated 10.77.0.1 7068 "$k1" "$k2" "$ep1"
check "truncated datagram dropped and counted" within 5 drops_above truncated "$t0"
f0=$(drops forged)
ip netns exec "$X" python3 "$here/inject.py" forged 10.77.0.1 7068 "$k1" "$k2" "$ep1"
check "sealed datagram with a bad tag (claims to be gw2) dropped as forged" within 5 drops_above forged "$f0"
r0=$(drops replayed)
ip netns exec "$X" python3 "$here/inject.py" stale 10.77.0.1 7068 "$k1" "$k2" "$ep1"
check "sealed datagram for an earlier run of gw1 dropped as replayed" within 5 drops_above replayed "$r0"
# An untrusted gateway: a real phloemd of the same community name that no
# member invited, in the attacker namespace.
u0=$(drops untrusted)
mkdir -p "$NT/x"
sed -e "s|$NT/gw1/|$NT/x/|g" "$NT/gw1/phloemd.conf" >"$NT/x/phloemd.conf"
mkdir -p "$NT/x/data"
PHLOEM_DIR=$NT/x/data ip netns exec "$X" "$PHLOEMD" -c "$NT/x/phloemd.conf" 2>>"$NT/x/log" &
XPID=$!
check "an uninvited gateway's announcements are dropped as untrusted" \
	within 15 drops_above untrusted "$u0"
kx=$(PHLOEMD_SOCKET=$NT/x/sock "$PHLOEMCTL" peers --json | jget 'd["key"]')
check "and it is listed as untrusted, not as a member" state_at 1 "$kx" untrusted
kill "$XPID"; wait "$XPID" 2>/dev/null
check "after all that, every node has all $((NN - 1)) others alive" pollc alive 30 $(socks 1 "$NN")

# ---- a hostile member (tests/netns/hostile.c), while energy is shared ----
# Invited by gw1 like any gateway, it then tries every attack of the threat
# model (docs/protocol.md) against every member for 40 s: removing all the
# others, a forged founder, gw2 dead at the top incarnation, a measurement
# signed a year ahead, 16 PINGs in one message, gw2's announcements
# replayed from its address, foreign and future announcements, a flood of
# ledger sync requests.
if [ -n "${HOSTILE:-}" ] && [ -x "$HOSTILE" ]; then
	kh=$("$HOSTILE" key "$NT/x/hostile.key")
	k2=$(key 2)
	tokh=$(ctl 1 community invite "$kh")
	sk0=$(drops skewed); fo0=$(drops foreign); ma0=$(drops malformed)
	ip netns exec "$X" "$HOSTILE" attack "$NT/x/hostile.key" "$tokh" eth0 40 "$k2" \
		>"$NT/x/hostile.out" 2>"$NT/x/hostile.err" &
	HPID=$!
	members_n() {	# members_n M: every node lists M members
		local i
		for i in $(seq 1 "$NN"); do
			[ "$(peers "$i" | jget 'd["members"]')" = "$1" ] || return 1
		done
	}
	members_all() { members_n $((NN + 1)); }
	check "the hostile member is admitted everywhere ($((NN + 1)) members at every node)" \
		within 20 members_all
	gw2_not_dead() { local i; for i in $(seq 1 "$NN"); do [ "$i" = 2 ] || state_at "$i" "$k2" 'alive|suspect' || return 1; done; }
	dead_seen=0 rounds=0
	# polled all along the attack, and once after it at least (admitting it
	# everywhere may take the attack's whole length on a loaded machine; a
	# victim made dead for good would still be dead then)
	while kill -0 "$HPID" 2>/dev/null || [ "$rounds" = 0 ]; do
		for i in $(seq 1 "$NN"); do
			[ "$i" = 2 ] || ! state_at "$i" "$k2" dead || dead_seen=$((dead_seen + 1))
		done
		rounds=$((rounds + 1))
	done
	wait "$HPID"
	hv() { awk -v k="$1" '$1 == k { print $2 }' "$NT/x/hostile.out"; }
	diag "hostile: $(tr '\n' ' ' <"$NT/x/hostile.out")"
	check "it held a session with every honest gateway and attacked ($(hv sessions) sessions, $(hv passes) passes)" \
		test "$(hv sessions)" -ge "$NN" -a "$(hv passes)" -ge 5
	check "its 16-PING messages got no ACK at all, its single PINGs $(hv acks_single) (one reply-asking record per message)" \
		test "$(hv acks_burst)" = 0 -a "$(hv acks_single)" -gt 0
	check "its removals of every other member removed nobody: still $((NN + 1)) members everywhere" members_all
	check "its dead-at-UINT64_MAX gossip never made gw2 dead anywhere ($dead_seen sightings in $rounds rounds)" \
		test "$dead_seen" = 0 -a "$rounds" -gt 0
	agree "its measurement signed a year ahead counts nowhere: net power = the honest sum" 1 "$NN"
	check "gw1 refused its announcements signed a year ahead (skewed)" test "$(drops skewed)" -gt "$sk0"
	xaddrs=$(ip -n "$X" -o addr show dev eth0 | awk '{ sub("/.*", "", $4); print $4 }' | paste -sd'|')
	not_diverted() {	# no node sends to gw2 at the hostile's addresses
		local i
		for i in $(seq 1 "$NN"); do
			[ "$i" = 2 ] && continue
			peers "$i" | jget "[p['addr'] for p in d['peers'] if p['key'] == '$k2'][0]" |
				grep -qE "^\[?($xaddrs)[]%:]" && return 1
		done
		return 0
	}
	check "gw2's announcements replayed from its address diverted nothing" not_diverted
	check "gw1 refused its foreign announcements unverified" test "$(drops foreign)" -gt "$fo0"
	check "gw1 refused its 16-PING messages as malformed" test "$(drops malformed)" -gt "$ma0"
	# its SYNC_REQ flood (one a message, 150 messages a pass to each
	# member): a member serves another one request every 50 ms on
	# average, bursts of 40 (SYNC_SERVE_MS, SYNC_SERVE_BURST, peers.c)
	sbound=$((40 + 20 * $(hv attack_s)))
	check "its SYNC_REQ flood ($(hv sync_asked_min) or more to each member, a chain of $(hv chain_len)) was answered at most $sbound times by any member ($(hv sync_answers_max)), and answered" \
		test "$(hv sync_answers_max)" -le "$sbound" -a "$(hv sync_answers_max)" -gt 0 \
		-a "$(hv sync_asked_min)" -gt "$sbound"
	unserved=$(peers 1 | jget 'd["sync"]["requests_unserved"]')
	check "gw1 left the rest unserved ($unserved requests)" test "$unserved" -gt 0
	check "gw2 is alive at every other node" within 20 gw2_not_dead
	check "the owner (gw1) removes it" sh -c "PHLOEMD_SOCKET=$NT/gw1/sock $PHLOEMCTL community remove $kh >/dev/null"
	untrusted_all() { local i; for i in $(seq 2 "$NN"); do state_at "$i" "$kh" untrusted || return 1; done; }
	check "the removal reaches every node: the hostile key is untrusted everywhere" within 20 untrusted_all
	check "every node lists the $NN honest members again" within 10 members_n "$NN"
else
	skip "a hostile member attacks while energy is shared" "HOSTILE not built"
fi

# ---- 10% loss with reordering ----
impair 10
diag "impairment by $IMPAIR"
before=$(peers 3 | jget 'd["net_w"]')
t0=$(now)
ctl 3 relays off heater --for 10m >/dev/null
check "10% loss + reordering: gw3's load change held at every node" heard_everywhere 3 "$before" "$t0"
agree "10% loss + reordering: net power agrees at every node" 1 "$NN"
check "10% loss + reordering: for 20 s no node holds another dead (alive or suspect)" \
	pollc --hold live 20 $(socks 1 "$NN")
[ "$IMPAIR" = hub ] && diag "hub: $(tr '\n' ' ' <"$NT/hub.stats")"
unimpair

for i in $(seq 1 "$NN"); do
	if grep -qiE 'sanitizer|segfault|assert' "$NT/gw$i/log"; then
		notok "gw$i log clean"; sed 's/^/#   /' "$NT/gw$i/log" | tail -20
	fi
done
alive=0
for i in $(seq 1 "$NN"); do kill -0 "${PID[$i]}" 2>/dev/null && alive=$((alive + 1)); done
check "every phloemd still running at the end ($alive/$NN)" test "$alive" -eq "$NN"

# ---- the ledgers, after a run of shared energy ----
declare -a KEY=()
for i in $(seq 1 "$NN"); do KEY[$i]=$(key "$i"); done
for i in $(seq 1 "$NN"); do peers "$i" | jget "'gw$i ' + ' '.join('%s=%s' % kv for kv in d['settle'].items())"; done >"$NT/settle.txt"
diag "settlement counters, summed: $(python3 - "$NT/settle.txt" <<'EOP'
import sys, collections
t = collections.Counter()
for line in open(sys.argv[1]):
	for kv in line.split()[1:]:
		k, v = kv.split("=")
		if k in ("proposed", "completed", "accepted", "refused_rx", "disagreements", "recovered", "expired"):
			t[k] += int(v)
print(" ".join("%s %d" % kv for kv in sorted(t.items())))
EOP
)"
for i in $(seq 1 "$NN"); do node_kill "$i" TERM; done
bad=0
for i in $(seq 1 "$NN"); do lg "$i" verify >/dev/null 2>&1 || { bad=$((bad + 1)); diag "gw$i: ledger verify failed"; }; done
check "every gateway's ledger verifies ($((NN - bad))/$NN)" test "$bad" -eq 0
# the truth is each member's own chain: their union, in one fresh ledger
mkdir -p "$NT/all"
imp=0
for i in $(seq 1 "$NN"); do
	lg "$i" export --format raw --author "${KEY[$i]}" --output "$NT/own$i.raw" >/dev/null 2>&1 &&
		"$PHLOEMCTL" --dir "$NT/all" ledger import "$NT/own$i.raw" >/dev/null 2>&1 && imp=$((imp + 1))
done
check "every member's own chain exported and imported into one ledger ($imp/$NN)" test "$imp" -eq "$NN"
check "the union of the members' own chains verifies" sh -c "$PHLOEMCTL --dir $NT/all ledger verify >/dev/null"
"$PHLOEMCTL" --dir "$NT/all" ledger history --json >"$NT/all.json"
"$PHLOEMCTL" --dir "$NT/all" ledger balance --json >"$NT/balance.json"
nt=$(jget 'sum(e["type"] == "transfer" for e in d)' <"$NT/all.json")
nm=$(jget 'sum(e["type"] == "meter" for e in d)' <"$NT/all.json")
diag "own chains: $nm metered intervals, $nt transfer entries (each transfer is on two chains)"
check "energy was shared: counter-signed transfers on the chains" test "${nt:-0}" -gt 0
check "balances sum to zero over the members" \
	test "$(jget 'sum(m["balance_wh"] for m in d["members"])' <"$NT/balance.json")" = 0
# a transfer the creditor signed (on its chain) is on the debtor's chain:
# none acknowledged and lost
lost=$(python3 - "$NT/all.json" <<'EOP'
import json, sys, collections
seen, what = collections.defaultdict(set), {}
for e in json.load(open(sys.argv[1])):
	if e["type"] == "transfer":
		seen[e["transfer_id"]].add(e["author"])
		what[e["transfer_id"]] = e
lost = [t for t, a in seen.items() if a != {what[t]["debtor"], what[t]["creditor"]}]
for t in lost[:5]:
	e = what[t]
	print("# on %s's chain only: %.12s -> %.12s, %s Wh, interval %s" % (
		" and ".join(a[:12] for a in seen[t]), e["debtor"], e["creditor"],
		e["amount_wh"], e["interval_start"]), file=sys.stderr)
print(len(lost))
EOP
)
check "every counter-signed transfer is on both its debtor's and its creditor's chain (lost: $lost)" test "$lost" = 0
done_testing
