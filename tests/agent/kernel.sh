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
# Every limit is read back from phloem.ko over netlink (phloemctl with no
# socket at its path), not from phloemd: a time-of-use window opening
# (--time-offset), SIGHUP with a good and a broken file, and SIGKILL, after
# which the lease lapses to the boot limits and the kernel sheds an overload
# scripted through phloem_sim's debugfs on its own.
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
ctl phase >"$T/phase.txt" 2>&1
check "phloemctl phase over netlink: L1 measured by the site CT, L2 and L3 not" \
	bash -c "grep -qE '^L1 +i0 ' '$T/phase.txt' && grep -qE '^L2 +- .* none' '$T/phase.txt'"
ctl mains >"$T/mains.txt" 2>&1
check "phloemctl mains over netlink: L1 on v0, the outage state" \
	bash -c "grep -qE '^L1 +v0 +[0-9.]+ V ' '$T/mains.txt' && grep -qE '^mains: +(off|ok)' '$T/mains.txt'"
diag "device, as phloemctl sees it over netlink:"
sed 's/^/#   /' "$T/channels.txt" "$T/relays.txt" "$T/phase.txt" "$T/mains.txt"

# ---- a configuration from the device's own topology ----
ctl channels --json >"$T/ch.json" && ctl relays --json >"$T/re.json"
/usr/bin/python3 "$(dirname "$0")/conf_from_device.py" "$T" k.conf h.db
vars=$(/usr/bin/python3 - "$T" <<'EOP'
import json, sys
t = sys.argv[1]
ch = json.load(open(t + "/ch.json"))["channels"]
re = json.load(open(t + "/re.json"))["relays"]
relay = [r["name"] for r in re if not r["critical"]][0]
circ = [c for c in ch if c["kind"] == "current" and c["circuit"] not in ("", "site")][0]
# the kernel's own shed target once phloemd is gone: the lowest priority
sr = min((r for r in re if not r["critical"]), key=lambda r: r["priority"])
src = [c for c in ch if c["kind"] == "current" and c["circuit"] == sr["circuit"]][0]
print(f"relay={relay} circ={circ['circuit']} amps={circ['rating_ma'] // 1000 - 1} "
      f"rating_ma={circ['rating_ma']} sr={sr['name']} sr_i={sr['index']} "
      f"sr_load={sr['load_ma']} sr_over={2 * src['rating_ma']}")
EOP
)
eval "$vars"
diag "relay=$relay circuit=$circ new limit=$amps A; kernel's shed target $sr (line $sr_i)"
check "configuration generated from the device is valid" "$PHLOEMD" --check -c "$T/k.conf"

cp "$T/k.conf" "$T/base.conf"
# A time-of-use window at noon of phloemd's clock, which reads 11:59:05 at
# start (--time-offset): it opens while the test runs, 55 s in, so that a
# slow start under emulation on a loaded machine still sees it closed. Its limit is above
# what the 40 A site can draw, so it shows in the kernel without shedding
# anything the later cases rely on.
WIN_W=14000
printf '[tou noon]\ndays = all\nstart = 12:00\nend = 13:00\nsite_import_limit_w = %s\n\n' \
	"$WIN_W" >>"$T/k.conf"
cp "$T/k.conf" "$T/tou.conf"

# Reads straight from phloem.ko over netlink even while phloemd runs: with
# no socket at that path phloemctl falls back to the family.
nl() { PHLOEMD_SOCKET=$T/no-such-sock "$PHLOEMCTL" "$@"; }
k_site_w() { nl status --json | jget 'd["site_import_limit_w"]'; }
k_limit_ma() {	# k_limit_ma CIRCUIT: limit in force in the kernel
	nl channels --json | jget "[c['limit_ma'] for c in d['channels'] if c['circuit'] == '$1'][0]"
}
k_is() { test "$("$@")" = "$EXPECT"; }
EXPECT=$WIN_W
k_site_before=$(k_site_w)
diag "kernel site import limit before phloemd: $k_site_before W"

OFFSET=$(( $(date -d 'today 11:59:05' +%s) - $(date +%s) ))
"$PHLOEMD" -c "$T/k.conf" --time-offset "$OFFSET" 2>"$T/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait 2>/dev/null' EXIT
check "phloemd (kernel backend) starts" wait_for 20 test -S "$T/sock"
check "before noon: window limit not in the kernel ($(k_site_w) W)" \
	test "$(k_site_w)" != "$WIN_W"
ctl status >"$T/status.txt" 2>&1
check "status: backend kernel" grep -q 'backend kernel' "$T/status.txt"
check "status: lease held" grep -q '^state: .*leased' "$T/status.txt"
# The start-up push: the limits and every relay's policy in one SET_LIMITS
# request, one configuration change in phloem.ko and so at most one CONFIG
# event (the file names the device's own priorities; its min_off_s default
# differs from the simulated HAT's 2 s), where there was one per relay and
# one for the limits (9 on the simulated HAT): a burst of identical
# "config" lines for the operator.
# On a slow machine the noon window may already be open: that is a
# second push (the window's limit), so one more event.
sleep 1
n_cfg_start=$(ctl events -n 1000 | grep -c ' config ')
pushes=1
[ "$(k_site_w)" = "$WIN_W" ] && pushes=2
check "start-up push: at most one config event per push, not one per relay ($n_cfg_start events, $pushes pushes)" \
	test "$n_cfg_start" -le "$pushes"
# and a request that changes nothing is no event at all
cfg_now() { ctl events -n 1000 | grep -c ' config '; }
c0=$(cfg_now)
prio0=$(ctl relays --json | jget "[r['priority'] for r in d['relays'] if r['name'] == '$relay'][0]")
ctl relays priority "$relay" "$prio0" >/dev/null
sleep 1
check "relay priority set to its own value: no config event ($c0 -> $(cfg_now))" \
	test "$(cfg_now)" -eq "$c0"
check "limits set $circ $amps" ctl limits set "$circ" "$amps"
check "limit in force read back from the kernel" \
	bash -c "'$PHLOEMCTL' limits | grep -qE '^$circ +$amps\\.00 A'"
check "relays off $relay through phloemd" ctl relays off "$relay" --for 1m
check "override off in force in the kernel" \
	bash -c "'$PHLOEMCTL' relays | grep -qE '^$relay .* off +manual +[a-z-]+ +off '"
ev_seen() { ctl events 2>/dev/null | grep -q ' override '; }
check "override event received on the multicast group and recorded" wait_for 10 ev_seen
check "relays auto $relay" ctl relays auto "$relay"

# ---- the noon window reaches the kernel ----
EXPECT=$WIN_W
check "time-of-use window opens: kernel site limit $WIN_W W (netlink)" \
	wait_for 90 k_is k_site_w
check "status lists the open window" bash -c "'$PHLOEMCTL' status | grep -q 'windows open:  noon'"

# ---- SIGHUP: a good file applied, a broken one refused, in the kernel ----
a2=$((amps - 2)) a3=$((amps - 3))
sed "/^\[circuit $circ\]/a limit_a = $a2" "$T/tou.conf" >"$T/k.conf"
# the phase rules ride along: the site's one CT is L1's (rating 40 A), a
# limit at the rating and the longest grace shed nothing later cases need
printf '[site]\nphase_limit_a = 40\nphase_grace_s = 600\n' >>"$T/k.conf"
# and the mains rules' settings that act on nothing while mains is steady
# (the outage rule stays as the device has it: a stalled guest must not
# island the house under the later cases)
printf 'volt_nominal_v = 230\nreturn_s = 30\nreturn_stagger_ms = 500\nvolt_band_pct = 15\nvolt_delay_ms = 2000\n' >>"$T/k.conf"
kill -HUP "$PID"
EXPECT=$((a2 * 1000))
check "good reload: kernel limit $circ = $a2 A (netlink)" wait_for 15 k_is k_limit_ma "$circ"
k_phase() { nl phase --json | jget "str(d['phases'][0]['limit_ma']) + ' ' + str(d['grace_ms']) + ' ' + d['phases'][0]['state']"; }
EXPECT="40000 600000 ok"
check "good reload: [site] phase_limit_a and phase_grace_s in the kernel ($(k_phase))" \
	wait_for 15 k_is k_phase
k_mains() { nl mains --json | jget "' '.join(str(d[k]) for k in ('nominal_mv', 'return_ms', 'return_stagger_ms', 'volt_band_pct', 'volt_delay_ms'))"; }
EXPECT="230000 30000 500 15 2000"
check "good reload: [site] volt_*, return_* in the kernel ($(k_mains))" \
	wait_for 15 k_is k_mains
EXPECT=$((a2 * 1000))
sed "/^\[circuit $circ\]/a limit_a = $a3\npriorty = 5" "$T/tou.conf" >"$T/k.conf"
bad=$(grep -n '^priorty' "$T/k.conf" | cut -d: -f1)
kill -HUP "$PID"
check "broken reload refused with file:line in the log" \
	wait_for 15 grep -q "reload refused.*k.conf:$bad: .*priorty" "$T/log"
check "broken reload: kernel limit $circ still $a2 A (netlink)" k_is k_limit_ma "$circ"
EXPECT=$WIN_W
check "broken reload: kernel site limit still $WIN_W W (netlink)" k_is k_site_w
check "phloemd alive after the broken reload" kill -0 "$PID"
cp "$T/base.conf" "$T/k.conf"

kill "$PID"; wait "$PID"; rc=$?; PID=
check "phloemd stops cleanly" test "$rc" -eq 0
ctl status >"$T/status2.txt" 2>&1
check "after stop: status over netlink, lease released" \
	bash -c "grep -q 'not running' '$T/status2.txt' && ! grep -q '^state: .*leased' '$T/status2.txt'"
check "relays off $relay straight over netlink (phloemd stopped)" ctl relays off "$relay" --for 10s
check "override visible over netlink" \
	bash -c "'$PHLOEMCTL' relays | grep -qE '^$relay .* off +manual +[a-z-]+ +off '"
ctl relays auto "$relay" >/dev/null 2>&1

# ---- SIGKILL: the lease lapses and the kernel sheds on its own ----
"$PHLOEMD" -c "$T/k.conf" 2>>"$T/log" &
PID=$!
check "phloemd restarts" wait_for 20 bash -c "'$PHLOEMCTL' status 2>/dev/null | grep -q 'backend kernel'"
# With no limits of its own (those of base.conf are the boot values) the
# device reports boot-limits for good: phloemd must not push them again at
# every 2 s poll, each push a burst of config events in the history.
n_config() { ctl events -n 1000 | grep -c ' config '; }
sleep 1	# the start-up push's events land first
c1=$(n_config); sleep 5; c2=$(n_config)
check "limits equal to the boot values are not pushed again at every poll ($c1 -> $c2 config events in 5 s)" \
	test "$c1" -eq "$c2"
ctl limits set "$circ" "$amps" >/dev/null
EXPECT=$((amps * 1000))
check "limit $circ $amps A in the kernel under the lease" wait_for 10 k_is k_limit_ma "$circ"
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
lapsed() {
	nl status --json >"$T/st.json" &&
	jget '"boot-limits" in d["state"] and "leased" not in d["state"] and d["lease_left_ms"] == 0' \
		<"$T/st.json" | grep -q True
}
check "after SIGKILL the lease lapses: boot-limits, lease left 0 (netlink)" wait_for 15 lapsed
diag "status: $(tr -d "\n" <"$T/st.json")"
EXPECT=$rating_ma
check "after SIGKILL $circ back to its boot limit $rating_ma mA (netlink)" k_is k_limit_ma "$circ"

sim=/sys/kernel/debug/phloem_sim/hat0
line_on() { [ $(( $(cat "$sim/relays") >> sr_i & 1 )) -eq 1 ]; }
shed_by_kernel() {
	! line_on && nl relays | grep -qE "^$sr .* off +shed "
}
if [ -w "$sim/relay$sr_i/load_ma" ]; then
	check "$sr on before the overload" wait_for 10 line_on
	echo "$sr_over" >"$sim/relay$sr_i/load_ma"
	check "overload of $sr ($sr_over mA) shed by the kernel alone (sim line off, reason shed)" \
		wait_for 10 shed_by_kernel
	nl relays | sed 's/^/#   /'
	echo "$sr_load" >"$sim/relay$sr_i/load_ma"
	# Every other switched load off: the circuit and the site then carry
	# only the critical loads, so the one thing deciding the restore is
	# the kernel's estimate of the shed relay's load (docs/shedding.md:
	# restore when current + estimate <= restore_pct (80 %) of the limit).
	# That estimate depends on where in the cycle the step fell, so both
	# outcomes of the rule are checked, each against its own condition.
	for r in 0 1 2 3 5 6; do
		[ "$r" -eq "$sr_i" ] || echo 0 >"$sim/relay$r/load_ma"
	done
	est_ma=$(nl relays | awk -v r="$sr" '$1 == r { print int($(NF-1) * 1000) }')
	# (80 % of the rating, less what noise the empty circuit may read)
	thr_ma=$(( sr_over / 2 * 80 / 100 - 400 ))
	diag "$sr estimated at $est_ma mA; restore threshold on its circuit ~$thr_ma mA"
	if [ -n "$est_ma" ] && [ "$est_ma" -le "$thr_ma" ]; then
		check "load gone: the kernel restores $sr on its own (estimate fits)" wait_for 30 line_on
	else
		sleep 5
		check "estimate $est_ma mA leaves no headroom: the kernel keeps $sr shed" \
			shed_by_kernel
	fi
else
	skip "overload shed after SIGKILL" "no phloem_sim debugfs at $sim"
fi

diag "phloemd log:"
sed 's/^/#   /' "$T/log" | tail -n 25
done_testing
