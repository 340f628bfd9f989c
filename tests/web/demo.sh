#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The dashboard for a person, the last part of `make demo` (after the VM)
# and all of `make demo-web`: phloemd on the sim backend (kernel/shed.c, the
# module's own shedding unit, compiled for the host) with the dashboard; a
# garage that overloads 8 s after start (the shed appears on the page).
# Ends by printing the address and the token; DEMO_KEEP=1 leaves it up
# until Ctrl-C, otherwise it stops after DEMO_S seconds (default 20).
# Env: PHLOEMD, DEMO_LISTEN (127.0.0.1), DEMO_PORT (8080; when not set and
# 8080 is taken, any free port).
set -u
PHLOEMD=${PHLOEMD:?}
T=$(mktemp -d /tmp/phloem-demo-web.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
trap "exit 0" INT TERM
head -c 18 /dev/urandom | base64 | tr '/+' '_-' >"$T/token"
. "$(dirname "$0")/house.sh"
start() {
	{ house_conf "$T"; cat <<EOC
[sim]
restore_delay_s = 5
step = 8 garage 9
[web]
enable = yes
listen = ${DEMO_LISTEN:-127.0.0.1}
port = $1
token_file = $T/token
push_ms = 500
EOC
	} >"$T/demo.conf"
	"$PHLOEMD" -c "$T/demo.conf" 2>"$T/log" &
	PID=$!
	for _ in $(seq 50); do
		grep -q "dashboard on" "$T/log" && break
		# exited (a zombie until waited for): its error is in the log
		case $(ps -o stat= -p "$PID") in Z*|"") break ;; esac
		sleep 0.2
	done
	url=$(grep -o 'http://[^ ]*' "$T/log" | head -1)
}
start "${DEMO_PORT:-8080}"
# the port taken (another dashboard, another service): any free one
if [ -z "$url" ] && [ -z "${DEMO_PORT:-}" ] && grep -q "cannot listen" "$T/log"; then
	wait "$PID" 2>/dev/null
	start 0
fi
[ -n "$url" ] || { cat "$T/log"; exit 1; }
cat <<TXT

    ### the dashboard: phloemd on this machine, sim backend (the kernel's
    ### shedding code compiled for the host); the garage overloads 8 s
    ### after start, the EV is shed and the page shows it

TXT
if [ -n "${DEMO_KEEP:-}" ] && [ "$DEMO_KEEP" != 0 ]; then
	echo "left up until Ctrl-C"
else
	echo "up for ${DEMO_S:-20} s; DEMO_KEEP=1 (make demo DEMO_KEEP=1) leaves it up until Ctrl-C"
fi
echo "token for the override buttons: $(cat "$T/token")"
echo "phloem dashboard: $url"
if [ -n "${DEMO_KEEP:-}" ] && [ "$DEMO_KEEP" != 0 ]; then
	wait "$PID"
else
	sleep "${DEMO_S:-20}"
	echo "dashboard stopped"
fi
