#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-peer: the peer library's unit tests, then real phloemd processes
# (sim backend) speaking the peer protocol over loopback UDP. TAP on stdout.
#
#        g1 (founder) <----+----> g2 (invited by g1) <----> g3 (invited by g2)
#           ^               \                                 ^
#           |                +---- static unicast, 127.0.0.1 -+
#           +-- g4: same community name, never invited: untrusted
#
#   phloemctl --(UNIX socket)--> each phloemd; a Python sender injects
#   truncated, forged and stale datagrams into g1's port.
#
# Env: PEER_TEST, PHLOEMD, PHLOEMCTL, HOSTILE (tests/netns/hostile.c).
set -u
here=$(dirname "$0")
. "$here/../agent/lib.sh"
PEER_TEST=${PEER_TEST:?} PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?} HOSTILE=${HOSTILE:-}

echo "TAP version 13"
# unit tests, renumbered into this stream
out=$("$PEER_TEST" 2>&1); rc=$?
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "unit: ${line#ok * }" ;;
	"not ok "*) notok "unit: ${line#not ok * }" ;;
	*) diag "$line" ;;
	esac
done <<<"$out"
[ "$rc" -eq 0 ] || notok "unit tests exited with status $rc"

T=$(mktemp -d /tmp/peer-test.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "# kept $T" || rm -rf "$T"
}
trap cleanup EXIT

# ports from the PID so that concurrent runs on one machine do not meet
base=$(( 20000 + ($$ % 2000) * 10 ))
port() { echo $((base + $1)); }
statics="127.0.0.1:$(port 1), 127.0.0.1:$(port 2), 127.0.0.1:$(port 3), 127.0.0.1:$(port 4)"

conf() {	# conf N SITE_BASE_A
	cat <<EOC
[agent]
backend = sim
socket = $T/g$1/sock
lease_s = 3
user =
group = nogroup

[circuit site]
channel = i0
breaker_a = 40
sim_base_a = $2

[circuit garage]
channel = i1
breaker_a = 32
sim_base_a = 1

[relay ev]
circuit = garage
sim_load_a = 10

[history]
db = $T/g$1/h.db

[peers]
community = street
port = $(port "$1")
static = $statics
announce_ms = 300
; phloemd meters into its chain at every interval boundary: a day keeps
; those entries out of the chain lengths counted below (meter.sh tests them)
settle_interval_s = 86400
identity = $T/g$1/identity.key
state = $T/g$1/community
ledger = $T/g$1/ledger.db
EOC
}

start() {	# start N
	"$PHLOEMD" -c "$T/g$1/conf" >>"$T/g$1/log" 2>&1 &
	PIDS[$1]=$!
	wait_for 10 test -S "$T/g$1/sock"
}
ctl() {	# ctl N ARGS...
	local g=$1; shift
	PHLOEMD_SOCKET=$T/g$g/sock "$PHLOEMCTL" "$@"
}
peers() { ctl "$1" peers --json; }
quiet() { "$@" >/dev/null; }
key() { ctl "$1" peers --json | jget 'd["key"]'; }

for i in 1 2 3 4; do
	mkdir -p "$T/g$i"
	conf "$i" "$i" >"$T/g$i/conf"
	rm -f "$T/g$i/sock"
	start "$i" || notok "g$i started"
done
check "four gateways founded their own community" \
	test "$(for i in 1 2 3 4; do ctl $i community --json | jget 'len(d["members"])'; done | sort -u)" = 1

k2=$(key 2); k3=$(key 3); k4=$(key 4)
tok=$(ctl 1 community invite "$k2")
check "g1 invites g2: a token" test "${tok#phlinv1-street.}" != "$tok"
check "g2 joins with it" quiet ctl 2 community join "$tok"
check "a token for g2 is refused by g3" sh -c "! PHLOEMD_SOCKET=$T/g3/sock $PHLOEMCTL community join '$tok' 2>/dev/null"
tok=$(ctl 2 community invite "$k3")
check "g2 (a member now) invites g3, g3 joins" quiet ctl 3 community join "$tok"

all_see() {	# every one of g1..g3 has both others alive and counts 3
	for i in 1 2 3; do
		peers "$i" | jget '1 if sum(p["state"] == "alive" for p in d["peers"]) == 2 and d["community_counted"] == 3 and d["members"] == 3 else 0' |
			grep -qx 1 || return 1
	done
}
check "g1, g2, g3 converge: 3 members, both others alive, 3 measurements" wait_for 20 all_see

net_ok() {	# community net power at each = sum of the three own values (2 %)
	local sum=0 v
	for i in 1 2 3; do v=$(peers "$i" | jget 'd["net_w"]'); sum=$((sum + v)); done
	for i in 1 2 3; do
		peers "$i" | jget "1 if abs(d['community_net_w'] - $sum) <= max(50, abs($sum) // 50) else 0" |
			grep -qx 1 || return 1
	done
}
check "community net power is the sum of the members' net power, at every member" wait_for 10 net_ok
check "g1 reports SWIM's local health (0 to 4)" \
	test "$(peers 1 | jget '1 if 0 <= d["local_health"] <= 4 else 0')" = 1
# what the bytes sent went to: every datagram counted under one kind
check "g1's bytes sent by kind add up to tx_bytes (announce, probe, ack among them)" \
	test "$(peers 1 | jget '1 if sum(k["bytes"] for k in d["tx"].values()) == d["tx_bytes"] and sum(k["datagrams"] for k in d["tx"].values()) == d["tx_datagrams"] and all(d["tx"][k]["bytes"] > 0 for k in ("announce", "probe", "ack")) else 0')" = 1
before=$(peers 2 | jget 'd["community_net_w"]')
diag "community net power: $before W"

ctl 1 relays off ev >/dev/null
dropped() {	# g2 sees the community lose g1's 10 A EV load (~2300 W)
	peers 2 | jget "1 if $before - d['community_net_w'] > 2000 else 0" | grep -qx 1
}
check "switching a sim load off at g1 lowers the community net power seen at g2" wait_for 10 dropped
ctl 1 relays auto ev >/dev/null

# ---- anti-entropy of ledger chains, and fork evidence ----
k1=$(key 1)
for s in 1 2 3; do
	PHLOEMD_SOCKET=none "$PHLOEMCTL" --dir "$T/g1" ledger append-meter --start $((1700000000 + 900 * s)) \
		--length 900 --import $((100 * s)) --export 0 >/dev/null || notok "append-meter at g1"
done
chain_len() {	# chain_len N KEY: entries of KEY's chain in gN's ledger
	"$PHLOEMCTL" --dir "$T/g$1" ledger history --author "$2" --json | jget 'len(d)'
}
synced() { [ "$(chain_len 2 "$k1")" = 3 ] && [ "$(chain_len 3 "$k1")" = 3 ]; }
check "g1's three new ledger entries reach g2 and g3 (anti-entropy)" wait_for 15 synced
check "what they stored verifies" sh -c "$PHLOEMCTL --dir $T/g2 ledger verify >/dev/null && $PHLOEMCTL --dir $T/g3 ledger verify >/dev/null"
check "g4 (untrusted) got none of them" test "$(chain_len 4 "$k1")" = 0

# ---- counter-signed settlement of one interval ----
# the interval that just ended: a creditor signs until one interval after
# its end (docs/protocol.md, the deadline), so an old one would be refused
S=$(( $(date +%s) / 900 * 900 - 900 ))
lg() { local g=$1; shift; "$PHLOEMCTL" --dir "$T/g$g" ledger "$@" >/dev/null; }
lg 1 append-meter --start $S --length 900 --import 0 --export 500
lg 2 set-limit 1000
lg 2 append-meter --start $S --length 900 --import 300 --export 0
lg 3 set-limit 1000
lg 3 append-meter --start $S --length 900 --import 200 --export 0
k2=$(key 2); k3=$(key 3)
heads_at() {	# heads_at N: gN holds g1's 4 entries and g2's and g3's 2
	[ "$(chain_len "$1" "$k1")" = 4 ] && [ "$(chain_len "$1" "$k2")" = 2 ] &&
		[ "$(chain_len "$1" "$k3")" = 2 ]
}
all_heads() { heads_at 1 && heads_at 2 && heads_at 3; }
check "every member holds every member's metered entry of the interval" wait_for 15 all_heads
settle_now() {	# settle_now N START
	python3 - "$T/g$1/sock" "$2" <<'EOP'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"cmd": "settle-now", "interval": int(sys.argv[2]), "length": 900}) + "\n").encode())
r = json.loads(s.makefile().readline())
sys.exit(0 if r.get("ok") else 1)
EOP
}
# g2 (a debtor) promises its next position in <ledger>.owed before its
# PROPOSE leaves: watch its renames and fsyncs (issue 11, item 14)
STRACE_PID=
if command -v strace >/dev/null; then
	strace -f -qq -y -e trace=rename,renameat,renameat2,fsync -o "$T/g2/strace" \
		-p "${PIDS[2]}" 2>/dev/null &
	STRACE_PID=$!
	sleep 1
fi
for i in 1 2 3; do settle_now "$i" "$S" || notok "settle-now at g$i"; done
balance() {	# balance N KEY: KEY's balance in gN's ledger
	"$PHLOEMCTL" --dir "$T/g$1" ledger balance --json |
		jget "[m['balance_wh'] for m in d['members'] if m['key'] == '$2'][0]"
}
settled() { [ "$(balance 1 "$k1")" = 500 ] && [ "$(balance 2 "$k2")" = -300 ] && [ "$(balance 3 "$k3")" = -200 ]; }
check "g2 and g3 proposed, g1 counter-signed: balances +500 / -300 / -200" wait_for 15 settled
check "g1's chain holds both counter-signed transfers (6 entries)" \
	sh -c "[ \$($PHLOEMCTL --dir $T/g1 ledger history --author $k1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 6 ]"
check "no disagreement logged" test "$(peers 1 | jget 'd["settle"]["disagreements"]')" = 0
check "the settled ledgers verify" sh -c "$PHLOEMCTL --dir $T/g1 ledger verify >/dev/null && $PHLOEMCTL --dir $T/g2 ledger verify >/dev/null"
if [ -n "$STRACE_PID" ]; then
	kill "$STRACE_PID" 2>/dev/null; wait "$STRACE_PID" 2>/dev/null
	# every rename into place of the promise is followed by an fsync of
	# its directory before anything else is fsynced (or the run ends)
	owed_durable() {
		python3 - "$T/g2/strace" "$T/g2" <<'EOP'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
d = sys.argv[2]
renames = 0
for i, l in enumerate(lines):
	if re.search(r'rename(at2?)?\(.*owed\.tmp', l) and '= 0' in l:
		renames += 1
		nxt = [x for x in lines[i + 1:] if 'fsync(' in x]
		if not nxt or ('<%s>' % d) not in nxt[0]:
			print("# not followed by an fsync of %s: %s" % (d, l)); sys.exit(1)
sys.exit(0 if renames else 2)
EOP
	}
	check "the promise file (.owed) is renamed into place, then its directory fsynced" owed_durable
else
	skip "the promise file (.owed) is renamed into place, then its directory fsynced" \
		"strace not installed"
fi

# a second chain signed with g1's key: seq 1..3 again, with other values
mkdir -p "$T/forger"
cp "$T/g1/identity.key" "$T/forger/identity.key"
for s in 1 2 3; do
	"$PHLOEMCTL" --dir "$T/forger" ledger append-meter --start $((1700000000 + 900 * s)) \
		--length 900 --import 7 --export 0 >/dev/null
done
"$PHLOEMCTL" --dir "$T/forger" ledger export --format raw --output "$T/forger/raw" >/dev/null 2>&1
"$PHLOEMCTL" --dir "$T/g3" ledger import "$T/forger/raw" >/dev/null 2>&1
nforks() { "$PHLOEMCTL" --dir "$T/g$1" ledger forks --json | jget 'len(d)'; }
check "the fork is in g3's ledger (imported by its operator)" test "$(nforks 3)" -gt 0
forked() { [ "$(nforks 1)" -gt 0 ] && [ "$(nforks 2)" -gt 0 ]; }
check "g3's phloemd spreads the fork evidence: g1 and g2 hold it too" wait_for 10 forked

check "g4 (never invited) is listed as untrusted by g1" \
	sh -c "PHLOEMD_SOCKET=$T/g1/sock $PHLOEMCTL peers --json | python3 -c 'import json,sys; d=json.load(sys.stdin); k=\"$k4\"; sys.exit(0 if any(p[\"key\"]==k and p[\"state\"]==\"untrusted\" for p in d[\"peers\"]) else 1)'"
check "g1 counts g4's announcements as untrusted drops" \
	test "$(peers 1 | jget 'd["drops"]["untrusted"]')" -gt 0
check "g4 got no measurement from anyone (members send it nothing)" \
	test "$(peers 4 | jget 'd["community_counted"]')" -eq 1

# ---- injected datagrams: each refused and counted by its reason ----
inject() {	# inject KIND: truncated | forged | stale
	python3 - "$1" "$(port 1)" "$(key 1)" "$k2" <<'EOP'
import base64, os, socket, struct, sys
kind, port, k1, k2 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def raw(t):	# "phl1" + base32(key || 4-byte checksum), lower case, unpadded
	b = t[4:].upper()
	return base64.b32decode(b + "=" * (-len(b) % 8))[:32]
if kind == "truncated":	# a transport header cut short
	dg = bytes([1, 5, 0, 0]) + os.urandom(4)
elif kind == "forged":	# a handshake initiation "from g2": random ephemeral, garbage tag
	dg = bytes([1, 3, 0, 0]) + raw(k2) + raw(k1) + os.urandom(32 + 20)
else:			# transport for a session g1 does not hold (an earlier run's)
	dg = bytes([1, 5, 0, 0]) + struct.pack("<IQ", 0x5eed, 5) + os.urandom(40)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(dg, ("127.0.0.1", port))
EOP
}
# drops_above REASON N: the counter is re-read on every poll of wait_for
drops_above() { [ "$(drops "$1")" -gt "$2" ]; }
drops() { peers 1 | jget "d['drops']['$1']"; }
t0=$(drops truncated); inject truncated
check "a truncated datagram is dropped and counted" wait_for 5 drops_above truncated "$t0"
r0=$(drops replayed); inject stale
check "a datagram for a session g1 does not hold (an earlier run's) is dropped as replayed" wait_for 5 drops_above replayed "$r0"
f0=$(drops forged); inject forged
check "a handshake initiation that does not authenticate is dropped as forged" wait_for 5 drops_above forged "$f0"
check "the forged initiation \"from g2\" changed nothing: g2 still alive at g1" wait_for 5 all_see

# ---- announcements that are cheap to refuse (issue 11, items 11 and 13) ----
announce() {	# announce KIND: foreign | stale | future (signed with g2's key)
	# Debian's python3-nacl (make deps), under Debian's own interpreter
	/usr/bin/python3 - "$1" "$(port 1)" "$T/g2/identity.key" "$(port 2)" <<'EOP'
import hashlib, os, socket, struct, sys, time
from nacl.signing import SigningKey
kind, port, idf, port2 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sk = SigningKey(open(idf, "rb").read()[:32])
pk = sk.verify_key.encode()
name = b"elsewhere" if kind == "foreign" else b"street"
comm = hashlib.blake2b(name, key=b"phloem-community-v1", digest_size=32).digest()
now = int(time.time() * 1000)
t = {"stale": now - 600000, "future": now + 365 * 86400 * 1000}.get(kind, now)
body = bytes([1, 1, 0, 0]) + comm + pk + struct.pack("<QQHH", t - 1000, t, port2, 0)
# a foreign one is not even signed right: it must cost no verification
sig = os.urandom(64) if kind == "foreign" else sk.sign(b"phloem-announce-v1" + body).signature
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(body + sig, ("127.0.0.1", port))
EOP
}
f0=$(drops foreign); g0=$(drops forged); announce foreign
check "another community's announcement is refused as foreign, before its signature" \
	wait_for 5 drops_above foreign "$f0"
check "... so its bad signature cost nothing (no forged drop)" test "$(drops forged)" = "$g0"
s0=$(drops skewed); announce stale
check "a replayed (10 min old) announcement of g2 is refused (skewed)" wait_for 5 drops_above skewed "$s0"
s0=$(drops skewed); announce future
check "an announcement of g2 signed a year ahead is refused (skewed)" wait_for 5 drops_above skewed "$s0"
check "g2 is still reached at its own address: alive at g1" wait_for 5 all_see

# ---- a hostile member (tests/netns/hostile.c) ----
# Invited by g1 like any gateway; for 20 s it then tries every attack of
# the threat model (docs/protocol.md) against g1, g2, g3: removing the
# others, a forged founder, g2 dead at incarnation 2^64 - 1, a measurement
# a year ahead, 16 PINGs in one message, g2's announcements replayed,
# foreign and future announcements. make check-netns runs it among 20.
state_of() {	# state_of N KEY STATE
	peers "$1" | jget "[p['state'] for p in d['peers'] if p['key'] == '$2'][0]" | grep -qx "$3"
}
if [ -n "${HOSTILE:-}" ] && [ -x "$HOSTILE" ]; then
	kh=$("$HOSTILE" key "$T/hostile.key")
	tokh=$(ctl 1 community invite "$kh")
	sk0=$(drops skewed); fo0=$(drops foreign); ma0=$(drops malformed)
	"$HOSTILE" attack "$T/hostile.key" "$tokh" - 20 "$k2" "$(port 5)" "$statics" \
		>"$T/hostile.out" 2>"$T/hostile.err" &
	HPID=$!
	members_are() { local i; for i in 1 2 3; do [ "$(peers $i | jget 'd["members"]')" = "$1" ] || return 1; done; }
	check "the hostile member is admitted at g1, g2, g3 (4 members)" wait_for 15 members_are 4
	g2_seen_dead=0 rounds=0
	while kill -0 "$HPID" 2>/dev/null || [ "$rounds" = 0 ]; do	# once after, at least
		for i in 1 3; do state_of "$i" "$k2" dead && g2_seen_dead=$((g2_seen_dead + 1)); done
		rounds=$((rounds + 1))
		sleep 1
	done
	wait "$HPID"
	hv() { awk -v k="$1" '$1 == k { print $2 }' "$T/hostile.out"; }
	diag "hostile: $(tr '\n' ' ' <"$T/hostile.out") $(tr '\n' ' ' <"$T/hostile.err")"
	check "it held sessions with g1, g2, g3 and attacked ($(hv passes) passes)" \
		test "$(hv sessions)" -ge 3 -a "$(hv passes)" -ge 3
	check "its 16-PING messages got no ACK, its single PINGs $(hv acks_single)" \
		test "$(hv acks_burst)" = 0 -a "$(hv acks_single)" -gt 0
	check "its removals of every other member removed nobody (4 members everywhere)" members_are 4
	check "its dead-at-2^64-1 gossip never made g2 dead ($g2_seen_dead sightings in $rounds rounds)" \
		test "$g2_seen_dead" = 0 -a "$rounds" -gt 0
	check "its measurement a year ahead counts nowhere: net power is the members' sum" wait_for 10 net_ok
	check "g1 refused its announcements from the future (skewed)" test "$(drops skewed)" -gt "$sk0"
	check "g1 refused its foreign announcements unverified" test "$(drops foreign)" -gt "$fo0"
	check "g1 refused its 16-PING messages (malformed)" test "$(drops malformed)" -gt "$ma0"
	check "the owner (g1) removes it" quiet ctl 1 community remove "$kh"
	check "the removal spreads: 3 members at g1, g2, g3 again" wait_for 15 members_are 3
else
	skip "a hostile member attacks g1, g2, g3" "HOSTILE not built"
fi

# ---- liveness ----
kill "${PIDS[3]}"; wait "${PIDS[3]}" 2>/dev/null
check "g3 stopped: suspect (or, on a loaded machine, already dead) at g1" wait_for 10 state_of 1 "$k3" "suspect\\|dead"
dead_both() { state_of 1 "$k3" dead && state_of 2 "$k3" dead; }
check "then dead at g1 and g2" wait_for 20 dead_both
check "a dead member's power is not counted" \
	test "$(peers 1 | jget 'd["community_counted"]')" -eq 2
start 3
check "g3 restarted (new epoch): alive again everywhere" wait_for 15 all_see

# ---- removal: the owner only; a removed inviter's invitees stay ----
check "g2 (a member, not the owner) cannot remove g1" \
	sh -c "! PHLOEMD_SOCKET=$T/g2/sock $PHLOEMCTL community remove $k1 >/dev/null 2>&1"
check "g1 (the owner) removes g2, who had invited g3" quiet ctl 1 community remove "$k2"
check "the removal reaches g3: g2 untrusted there" wait_for 10 state_of 3 "$k2" untrusted
members_of() { ctl "$1" community --json | jget "' '.join(sorted(m['key'] for m in d['members']))"; }
both() { [ "$(members_of 1)" = "$(printf '%s\n' "$k1" "$k3" | sort | paste -sd' ')" ] &&
	 [ "$(members_of 3)" = "$(members_of 1)" ]; }
check "g3 (invited by g2) stays a member: g1 and g3 agree on {g1, g3}" wait_for 10 both
for i in 1 3; do kill "${PIDS[$i]}"; wait "${PIDS[$i]}" 2>/dev/null; rm -f "$T/g$i/sock"; done
start 1; start 3
check "g1 and g3 start again with their state files (issue 11, item 5)" \
	sh -c "kill -0 ${PIDS[1]} && kill -0 ${PIDS[3]} && test -S $T/g1/sock && test -S $T/g3/sock"
check "and see each other alive" wait_for 15 state_of 1 "$k3" alive
check "g2 cannot be invited again" sh -c "! PHLOEMD_SOCKET=$T/g1/sock $PHLOEMCTL community invite $k2 >/dev/null 2>&1"

# ---- libnl-route: loaded for discovery interfaces only (agent/lib/dynlib) ----
check "no interfaces configured: libnl-route not in g1" sh -c "! grep -q libnl-route /proc/${PIDS[1]}/maps"
# libsodium: loaded by pd_peers_open() (agent/phloemd/sodiumlib.h)
check "[peers] community set: libsodium loaded in g1" grep -q libsodium "/proc/${PIDS[1]}/maps"
mkdir -p "$T/g5"
conf 5 1 | sed 's/^announce_ms/interfaces = lo\nannounce_ms/' >"$T/g5/conf"
start 5
check "interfaces = lo: g5 runs with libnl-route loaded then" \
	sh -c "kill -0 ${PIDS[5]} && grep -q libnl-route /proc/${PIDS[5]}/maps && PHLOEMD_SOCKET=$T/g5/sock $PHLOEMCTL peers >/dev/null"

for i in 1 2 3 4; do
	grep -q "peers: key" "$T/g$i/log" || { diag "g$i log:"; sed 's/^/#   /' "$T/g$i/log"; }
done
done_testing
