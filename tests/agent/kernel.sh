#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# phloemd on the kernel backend, inside the test VM (tests/vm/run.sh
# --modules): phloem.ko bound to phloem_sim.ko, the "phloem" generic netlink
# family between them and phloemd.
#
#   phloemctl --socket--> phloemd --genetlink "phloem"--> phloem.ko <-- phloem_sim.ko
#   phloemctl --genetlink (fallback, phloemd stopped)-----^
#
# The configuration is generated from the device itself (names and ratings
# read over netlink with phloemd stopped), so the test follows whatever
# topology the simulated HAT has. Skips when the family is not registered.
# Under TCG every process start is slow: checks grep the human output rather
# than start an interpreter each time.
set -u
. "$(dirname "$0")/lib.sh"
PHLOEMD=${1:?phloemd} PHLOEMCTL=${2:?phloemctl}
T=/tmp/agent-kernel
rm -rf "$T"; mkdir -p "$T"
export PHLOEMD_SOCKET=$T/sock
ctl() { "$PHLOEMCTL" "$@"; }

if [ ! -x "$PHLOEMD" ] || [ ! -x "$PHLOEMCTL" ]; then
	notok "binaries present ($PHLOEMD, $PHLOEMCTL)"
	done_testing
	exit 1
fi
out=$(ctl status --json 2>&1)
if grep -q 'not loaded' <<<"$out"; then
	skip "phloemd on the kernel backend" "the phloem generic netlink family is not registered"
	done_testing
	exit 0
fi
check "phloemctl status over netlink without phloemd" grep -q '"source": "kernel"' <<<"$out"
ctl channels >"$T/channels.txt" 2>&1
ctl relays >"$T/relays.txt" 2>&1
diag "device, as phloemctl sees it over netlink:"
sed 's/^/#   /' "$T/channels.txt" "$T/relays.txt"

# ---- a configuration from the device's own topology ----
ctl channels --json >"$T/ch.json" && ctl relays --json >"$T/re.json"
vars=$(/usr/bin/python3 - "$T" <<'EOP'
import json, sys
t = sys.argv[1]
ch = json.load(open(t + "/ch.json"))["channels"]
re = json.load(open(t + "/re.json"))["relays"]
with open(t + "/k.conf", "w") as f:
    f.write(f"[agent]\nbackend = kernel\nsocket = {t}/sock\nlease_s = 3\nuser =\n\n")
    f.write(f"[history]\ndb = {t}/h.db\n\n")
    for c in ch:
        if c["kind"] == "current" and c["circuit"]:
            f.write(f"[circuit {c['circuit']}]\nchannel = {c['name']}\n"
                    f"breaker_a = {c['rating_ma'] / 1000}\n\n")
    for r in re:
        f.write(f"[relay {r['name']}]\ncircuit = {r['circuit']}\npriority = {r['priority']}\n"
                f"critical = {'yes' if r['critical'] else 'no'}\n\n")
relay = [r["name"] for r in re if not r["critical"]][0]
circ = [c for c in ch if c["kind"] == "current" and c["circuit"] not in ("", "site")][0]
print(f"relay={relay} circ={circ['circuit']} amps={circ['rating_ma'] // 1000 - 1}")
EOP
)
eval "$vars"
diag "relay=$relay circuit=$circ new limit=$amps A"
check "configuration generated from the device is valid" "$PHLOEMD" --check -c "$T/k.conf"

"$PHLOEMD" -c "$T/k.conf" 2>"$T/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait 2>/dev/null' EXIT
check "phloemd (kernel backend) starts" wait_for 20 test -S "$T/sock"
ctl status >"$T/status.txt" 2>&1
check "status: backend kernel" grep -q 'backend kernel' "$T/status.txt"
check "status: lease held" grep -q '^state: .*leased' "$T/status.txt"
check "limits set $circ $amps" ctl limits set "$circ" "$amps"
check "limit in force read back from the kernel" \
	bash -c "'$PHLOEMCTL' limits | grep -qE '^$circ +$amps\\.00 A'"
check "relays off $relay through phloemd" ctl relays off "$relay" --for 1m
check "override off in force in the kernel" \
	bash -c "'$PHLOEMCTL' relays | grep -qE '^$relay .* off +manual +off '"
ev_seen() { ctl events 2>/dev/null | grep -q ' override '; }
check "override event received on the multicast group and recorded" wait_for 10 ev_seen
check "relays auto $relay" ctl relays auto "$relay"
kill "$PID"; wait "$PID"; rc=$?; PID=
check "phloemd stops cleanly" test "$rc" -eq 0
ctl status >"$T/status2.txt" 2>&1
check "after stop: status over netlink, lease released" \
	bash -c "grep -q 'not running' '$T/status2.txt' && ! grep -q '^state: .*leased' '$T/status2.txt'"
check "relays off $relay straight over netlink (phloemd stopped)" ctl relays off "$relay" --for 10s
check "override visible over netlink" \
	bash -c "'$PHLOEMCTL' relays | grep -qE '^$relay .* off +manual +off '"
ctl relays auto "$relay" >/dev/null 2>&1
diag "phloemd log:"
sed 's/^/#   /' "$T/log" | tail -n 25
done_testing
