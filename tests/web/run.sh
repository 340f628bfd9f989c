#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# phloemd's web dashboard on the sim backend. TAP on stdout.
#
#   curl ------------------\
#   Chromium (headless) ----+--HTTP 127.0.0.1:port--> phloemd (sim) <--socket-- phloemctl
#   (playwright-core)       |   /, /api/*, /api/live (SSE), /metrics
#
# Env: PHLOEMD, PHLOEMCTL; WEB_OUT (screenshots, default build/results/web);
# PW_DIR (where playwright-core is installed, from tests/web/package.json);
# ROUNDS (overloads the browser watches, default 3). BENCH=1 prints the table.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../agent/lib.sh"
PHLOEMD=${PHLOEMD:?} PHLOEMCTL=${PHLOEMCTL:?}
OUT=${WEB_OUT:-$here/../../build/results/web}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"

T=$(mktemp -d /tmp/phloem-web.XXXXXX)
export PHLOEMD_SOCKET=$T/sock
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" INT TERM
ctl() { "$PHLOEMCTL" "$@"; }
TOKEN=$(head -c 24 /dev/urandom | base64 | tr '/+' '_-')
printf '%s\n' "$TOKEN" >"$T/token"

. "$here/house.sh"
conf() {	# conf EXTRA_WEB_LINES
	house_conf "$T"
	cat <<EOC

[sim]
restore_delay_s = 1

[web]
enable = yes
$1
EOC
}

# ---- configuration ----
conf "listen = example.org" >"$T/bad.conf"
"$PHLOEMD" -c "$T/bad.conf" 2>"$T/bad.log" &
wait $!
check "a listen address that is not an address: phloemd refuses to start" \
	grep -q "listen = example.org: not an IPv4 or IPv6 address" "$T/bad.log"
conf "port = 99999" >"$T/bad.conf"
check "a bad port refused by --check" bash -c "! '$PHLOEMD' --check -c '$T/bad.conf' 2>/dev/null"
printf 'short\n' >"$T/short"
conf "token_file = $T/short
port = 0" >"$T/short.conf"
"$PHLOEMD" -c "$T/short.conf" 2>"$T/short.log" &
wait $!
check "a token under 16 characters: refused at start" grep -q "shorter than 16" "$T/short.log"

conf "port = 0
token_file = $T/token
push_ms = 500" >"$T/t.conf"
# the dynamic linker's bindings logged (to $T/ld.PID): GnuTLS's init
LD_DEBUG=bindings LD_DEBUG_OUTPUT=$T/ld "$PHLOEMD" -c "$T/t.conf" 2>>"$T/log" &
PID=$!
wait_for 10 grep -q "dashboard on" "$T/log"
URL=$(grep -o 'http://[^ ]*' "$T/log" | head -1)
URL=${URL%/}
check "listens on localhost by default ($URL)" grep -q "^http://127.0.0.1:" <<<"$URL"
# plain HTTP: libmicrohttpd's and GnuTLS's constructors find phloemd's
# GnuTLS init names (agent/phloemd/tlsskip.c), so GnuTLS is not initialised
for s in gnutls_global_init _gnutls_global_init_skip; do
	check "GnuTLS not initialised: $s bound to phloemd's" \
		grep -q "to $PHLOEMD \\[0\\]: normal symbol \`$s'" "$T/ld.$PID"
done
diag "dashboard: $URL"

# ---- reads (once the sim has settled: both relays back on) ----
both_on() { ctl relays --json | jget 'all(r["on"] for r in d["relays"])' | grep -q True; }
wait_for 10 both_on
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
check "GET / serves the page (200, CSP, nosniff)" bash -c "curl -si '$URL/' | tr -d '\r' | grep -q '^Content-Security-Policy: default-src .self.' && [ \$(curl -s -o /dev/null -w '%{http_code}' '$URL/') = 200 ]"
for a in status relays limits channels; do
	curl -s "$URL/api/$a" >"$T/web.$a"
	ctl "$a" --json >"$T/ctl.$a"
done
check "/api/relays and /api/limits are phloemctl --json's" python3 - "$T" <<'EOP'
import json, sys
t = sys.argv[1]
for a in ("relays", "limits"):
    w, c = json.load(open(f"{t}/web.{a}")), json.load(open(f"{t}/ctl.{a}"))
    w.pop("ok", None)  # phloemctl --json leaves out the socket's "ok"
    for x in (w, c):
        for r in x.get(a if a == "relays" else "circuits", []):
            for k in ("left_ms", "load_ma", "load_known"):  # they move between reads
                r.pop(k, None)
    assert w == c, (a, w, c)
EOP
check "/api/status: the same figures as phloemctl status --json" python3 - "$T" <<'EOP'
import json, sys
t = sys.argv[1]
w, c = json.load(open(f"{t}/web.status")), json.load(open(f"{t}/ctl.status"))
assert w["ok"] and w["device"] == c["device"] and w["state"] == c["state"], (w, c)
assert abs(w["vrms_v"] - c["vrms_v"]) < 1 and abs(w["freq_hz"] - c["freq_hz"]) < 0.1
EOP
curl -s "$URL/metrics" >"$T/metrics"
check "/metrics is Prometheus text, values as phloemctl's" python3 - "$T" <<'EOP'
import json, re, sys
t = sys.argv[1]
lines = open(f"{t}/metrics").read().splitlines()
types, samples = {}, {}
for l in lines:
    if l.startswith("# TYPE "):
        _, _, name, typ = l.split(" ")
        types[name] = typ
    elif l.startswith("# HELP "):
        continue
    else:
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (-?[0-9.e+-]+|NaN)', l)
        assert m, l
        assert m.group(1) in types, ("sample before its TYPE", l)
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(4))
for n, typ in types.items():
    assert typ in ("gauge", "counter"), n
    assert (typ == "counter") == n.endswith("_total"), n
c = json.load(open(f"{t}/ctl.status"))
assert abs(samples["phloem_mains_voltage_volts"] - c["vrms_v"]) < 1
r = json.load(open(f"{t}/ctl.relays"))["relays"]
for x in r:
    k = 'phloem_relay_on{relay="%s",circuit="%s"}' % (x["name"], x["circuit"])
    assert samples[k] == (1 if x["on"] else 0), k
ch = json.load(open(f"{t}/ctl.channels"))["channels"]
for x in ch:
    if x["kind"] == "current":
        k = 'phloem_energy_imported_watthours_total{channel="%s",circuit="%s"}' % (x["name"], x["circuit"])
        assert abs(x["import_wh"] - samples[k]) < 50, (k, x)
print("# %d samples, %d metrics" % (len(samples), len(types)))
EOP
timeout 2.5 curl -sN "$URL/api/live" >"$T/live"
check "/api/live: well-formed server-sent events, a state every push_ms" python3 - "$T/live" <<'EOP'
import json, sys
raw = open(sys.argv[1], "rb").read()
assert b"\0" not in raw, "NUL in the stream"
blocks = [b for b in raw.decode().split("\n\n") if b.strip()]
n = 0
for b in blocks[:-1] if not raw.endswith(b"\n\n") else blocks:
    f = dict(l.split(": ", 1) for l in b.split("\n"))
    assert f["event"] in ("state", "event"), f
    d = json.loads(f["data"])
    n += f["event"] == "state" and d["status"]["ok"] and "relays" in d
assert n >= 3, n
print("# %d state events in 2.5 s" % n)
EOP

# ---- bad requests: 4xx, and nothing changes ----
before=$(ctl status --json | jget 'd["events_seen"]')$(ctl relays --json | jget '[r["override"] for r in d["relays"]]')$(ctl limits --json | jget '[c["limit_ma"] for c in d["circuits"]]')
J='Content-Type: application/json'
A="Authorization: Bearer $TOKEN"
bad() {	# bad EXPECTED_CODE DESCRIPTION CURL_ARGS...
	local want=$1 what=$2; shift 2
	local got
	got=$(code "$@")
	check "$what: $want" test "$got" = "$want"
	[ "$got" = "$want" ] || diag "got $got: $(head -c 200 "$T/body")"
}
bad 401 "change without the token" -X POST -H "$J" -d '{"name":"ev","mode":"off"}' "$URL/api/relay"
bad 401 "change with a wrong token" -X POST -H "$J" -H "Authorization: Bearer ${TOKEN}x" -d '{"name":"ev","mode":"off"}' "$URL/api/relay"
bad 401 "token as a cookie (no ambient credentials)" -X POST -H "$J" -b "token=$TOKEN" -d '{"name":"ev","mode":"off"}' "$URL/api/relay"
bad 403 "cross-origin change, even with the token" -X POST -H "$J" -H "$A" -H "Origin: http://evil.example" -d '{"name":"ev","mode":"off"}' "$URL/api/relay"
bad 415 "form-encoded change (what a cross-site form sends)" -X POST -H "$A" -d 'name=ev&mode=off' "$URL/api/relay"
bad 400 "body not JSON" -X POST -H "$J" -H "$A" -d '{"name":' "$URL/api/relay"
bad 400 "unknown key" -X POST -H "$J" -H "$A" -d '{"name":"ev","mode":"off","cmd":"limits-reset"}' "$URL/api/relay"
bad 400 "bad mode" -X POST -H "$J" -H "$A" -d '{"name":"ev","mode":"sideways"}' "$URL/api/relay"
bad 400 "bad expiry" -X POST -H "$J" -H "$A" -d '{"name":"ev","mode":"off","for_s":0}' "$URL/api/relay"
bad 404 "no such relay" -X POST -H "$J" -H "$A" -d '{"name":"pool","mode":"off"}' "$URL/api/relay"
bad 400 "limit not a number" -X POST -H "$J" -H "$A" -d '{"circuit":"garage","limit_a":"lots"}' "$URL/api/limits"
head -c 8000 /dev/zero | tr '\0' ' ' >"$T/big"
bad 413 "body too large" -X POST -H "$J" -H "$A" --data-binary "@$T/big" "$URL/api/relay"
bad 405 "PUT" -X PUT -H "$J" -H "$A" -d '{}' "$URL/api/relay"
bad 404 "unknown page" "$URL/etc/passwd"
bad 400 "bad since_ms" "$URL/api/events?since_ms=yesterday"
after=$(ctl status --json | jget 'd["events_seen"]')$(ctl relays --json | jget '[r["override"] for r in d["relays"]]')$(ctl limits --json | jget '[c["limit_ma"] for c in d["circuits"]]')
check "after 15 bad requests nothing changed (events, overrides, limits)" test "$before" = "$after"
check "a good change: 200, and phloemctl sees it" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -X POST -H '$J' -H '$A' -d '{\"circuit\":\"garage\",\"limit_a\":18}' '$URL/api/limits') = 200 ] && '$PHLOEMCTL' limits --json | grep -q 18000"
ctl limits reset >/dev/null

# ---- wrong tokens: a growing delay per client address ----
W="Authorization: Bearer not-the-token-not-the-token"
RESET='{"reset":true}'
codes=
for _ in 1 2 3 4 5 6; do codes="$codes $(code -X POST -H "$J" -H "$W" -d "$RESET" "$URL/api/limits")"; done
check "6 wrong tokens in a row: 401 each ($codes)" test "$codes" = " 401 401 401 401 401 401"
hdr=$(curl -s -D - -o "$T/body" -X POST -H "$J" -H "$A" -d "$RESET" "$URL/api/limits" | tr -d '\r')
check "then 429 with Retry-After, the right token too" \
	bash -c "grep -q '^HTTP/1.1 429' <<<'$hdr' && grep -q '^Retry-After: [1-9]' <<<'$hdr' && grep -q retry_after_s '$T/body'"
check "another address is not held back (from 127.0.0.2)" \
	test "$(code --interface 127.0.0.2 -X POST -H "$J" -H "$A" -d "$RESET" "$URL/api/limits")" = 200
sleep "$(sed -n 's/^Retry-After: //p' <<<"$hdr")"
check "after Retry-After the right token passes, and clears the address" \
	test "$(code -X POST -H "$J" -H "$A" -d "$RESET" "$URL/api/limits")" = 200
codes=
for _ in 1 2 3 4 5 6 7; do codes="$codes $(code -X POST -H "$J" -H "$W" -d "$RESET" "$URL/api/limits")"; done
check "cleared: five free tries again, then 429 ($codes)" test "$codes" = " 401 401 401 401 401 401 429"
sleep 1.1
check "the delay doubles: the 7th wrong token holds the address 2 s" \
	bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -X POST -H '$J' -H '$W' -d '$RESET' '$URL/api/limits') = 401 ] && curl -s -D - -o /dev/null -X POST -H '$J' -H '$W' -d '$RESET' '$URL/api/limits' | tr -d '\r' | grep -q '^Retry-After: 2$'"
check "no token at all does not count (a click before typing it)" \
	test "$(code --interface 127.0.0.3 -X POST -H "$J" -d "$RESET" "$URL/api/limits")$(code --interface 127.0.0.3 -X POST -H "$J" -d "$RESET" "$URL/api/limits")$(code --interface 127.0.0.3 -X POST -H "$J" -d "$RESET" "$URL/api/limits")$(code --interface 127.0.0.3 -X POST -H "$J" -d "$RESET" "$URL/api/limits")$(code --interface 127.0.0.3 -X POST -H "$J" -d "$RESET" "$URL/api/limits")$(code --interface 127.0.0.3 -X POST -H "$J" -d "$RESET" "$URL/api/limits")$(code --interface 127.0.0.3 -X POST -H "$J" -H "$A" -d "$RESET" "$URL/api/limits")" = 401401401401401401200
check "/metrics counts the refusals (phloem_web_throttled_total)" \
	bash -c "curl -s '$URL/metrics' | grep -Eq '^phloem_web_throttled_total [2-9]'"
check "the holds are logged" grep -q "wrong tokens from ::ffff:127.0.0.1" "$T/log"
sleep 2.2
check "the right token after the wait: 200" test "$(code -X POST -H "$J" -H "$A" -d "$RESET" "$URL/api/limits")" = 200

# ---- the browser ----
PW_DIR=${PW_DIR:-$here/../../build/tests/web}
mkdir -p "$PW_DIR" && PW_DIR=$(cd "$PW_DIR" && pwd)
if [ ! -d "$PW_DIR/node_modules/playwright-core" ] || [ ! -d "$PW_DIR/node_modules/axe-core" ] ||
   ! cmp -s "$here/package.json" "$PW_DIR/package.json"; then
	mkdir -p "$PW_DIR"
	cp "$here/package.json" "$PW_DIR/"
	(cd "$PW_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent >/dev/null 2>&1)
fi
if [ ! -x /usr/bin/chromium ] || [ ! -d "$PW_DIR/node_modules/playwright-core" ] ||
   [ ! -d "$PW_DIR/node_modules/axe-core" ]; then
	skip "browser checks" "chromium, or playwright-core and axe-core (npm), not available"
	done_testing
	exit
fi
PW_DIR=$PW_DIR/node_modules timeout $((150 + 30 * ROUNDS)) node "$here/dash.mjs" "$URL" "$OUT" "$TOKEN" "$ROUNDS" >"$T/browser.json" 2>"$T/browser.err"
if ! is_json <"$T/browser.json"; then
	notok "browser run: $(tail -3 "$T/browser.err")"
else
	python3 - "$T/browser.json" <<'EOP' >"$T/browser.tap"
import json, sys
r = json.load(open(sys.argv[1]))
for name, c in r["checks"].items():
    d = " ".join(c["detail"].split())
    print(("ok" if c["ok"] else "notok") + "\t" + name + ("\t" + d if d else ""))
EOP
	while IFS=$'\t' read -r res name detail; do
		if [ "$res" = ok ]; then ok "browser: $name"; else notok "browser: $name"; fi
		[ -n "$detail" ] && diag "$detail"
	done <"$T/browser.tap"
fi
check "screenshots kept: $OUT" test -s "$OUT/dashboard.png" -a -s "$OUT/dashboard-phone.png" -a -s "$OUT/dashboard-shed.png"
if [ -n "${BENCH:-}" ] && is_json <"$T/browser.json"; then
	cp "$T/browser.json" "$OUT/latency.json"
fi
done_testing
