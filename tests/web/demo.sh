#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# demo-web: phloemd on the sim backend with the dashboard; a garage that
# overloads 8 s after start (the kernel's shed appears on the page). Prints
# the address and the token; DEMO_KEEP=1 leaves it up until Ctrl-C,
# otherwise it stops after DEMO_S seconds (default 20).
# Env: PHLOEMD, DEMO_LISTEN (127.0.0.1), DEMO_PORT (8080).
set -u
PHLOEMD=${PHLOEMD:?}
T=$(mktemp -d /tmp/phloem-demo-web.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
trap "exit 0" INT TERM
head -c 18 /dev/urandom | base64 | tr '/+' '_-' >"$T/token"
. "$(dirname "$0")/house.sh"
{ house_conf "$T"; cat <<EOC
[sim]
restore_delay_s = 5
step = 8 garage 9
[web]
enable = yes
listen = ${DEMO_LISTEN:-127.0.0.1}
port = ${DEMO_PORT:-8080}
token_file = $T/token
push_ms = 500
EOC
} >"$T/demo.conf"
"$PHLOEMD" -c "$T/demo.conf" 2>"$T/log" &
PID=$!
for _ in $(seq 50); do grep -q "dashboard on" "$T/log" && break; sleep 0.2; done
url=$(grep -o 'http://[^ ]*' "$T/log" | head -1)
[ -n "$url" ] || { cat "$T/log"; exit 1; }
echo "phloem dashboard: $url   (token for the override buttons: $(cat "$T/token"))"
echo "the garage overloads 8 s after start: the kernel sheds the EV, the page shows it"
if [ -n "${DEMO_KEEP:-}" ]; then
	echo "left up: Ctrl-C to stop"
	wait "$PID"
else
	sleep "${DEMO_S:-20}"
	echo "stopped (DEMO_KEEP=1 leaves it up)"
fi
