#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run.sh TEST TEST_PORTABLE PHLOEMCTL MKLEDGER PEER_TEST: the settlement checks as one
# TAP stream: both builds of the unit tests, then the real `phloemctl settle`
# on the golden files (byte for byte), on real ledgers built from them
# (--interval must agree with --input), and on bad input (refused, non-zero).
here=$(cd "$(dirname "$0")" && pwd)
test=$1 portable=$2 ctl=$3 mkledger=$4 peertest=$5
rc=0

"$test" || rc=1
echo "# the same tests with portable (no __int128) arithmetic"
"$portable" | sed 's/^\(\(not \)\?ok [0-9]*\) /\1 portable./'
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

echo "# phloemd's settlement on real ledgers (settle_peer.c)"
"$peertest" | sed 's/^\(\(not \)\?ok [0-9]*\) /\1 peer./'
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

n=0
ok() { n=$((n + 1)); echo "ok $n cli.$1"; }
nok() { n=$((n + 1)); echo "not ok $n cli.$1"; rc=1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "# phloemctl settle on the golden files"
for in in "$here"/golden/*.in; do
	name=$(basename "$in" .in)
	if "$ctl" settle --input "$in" --canonical >"$tmp/out" 2>"$tmp/err" &&
	   cmp -s "$tmp/out" "${in%.in}.out"; then
		ok "golden_$name"
	else
		diff -u "${in%.in}.out" "$tmp/out" | head -20 | sed 's/^/# /'
		sed 's/^/# /' "$tmp/err"
		nok "golden_$name"
	fi
	# the table names members and totals what the canonical text says
	if "$ctl" settle --input "$in" >"$tmp/table" 2>&1 &&
	   grep -q '^DEBTOR' "$tmp/table" &&
	   grep -q "matched $(sed -n 's/.*matched_wh=\([0-9]*\).*/\1/p' "${in%.in}.out") Wh" "$tmp/table"; then
		ok "table_$name"
	else
		sed 's/^/# /' "$tmp/table"
		nok "table_$name"
	fi
	if "$ctl" settle --input "$in" --json >"$tmp/json" 2>&1 &&
	   python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if "transfers" in d and "members" in d else 1)' "$tmp/json"; then
		ok "json_$name"
	else
		sed 's/^/# /' "$tmp/json"
		nok "json_$name"
	fi
done

# --terms over --input: the terms file wins field by field
printf '[community]\nfee_ppm = 0\n' >"$tmp/nofee.ini"
if "$ctl" settle --input "$here/golden/02-loss-fee.in" --terms "$tmp/nofee.ini" \
	--canonical >"$tmp/out" 2>"$tmp/err" &&
   grep -q '^terms loss_ppm=20000 fee_ppm=0 ' "$tmp/out" &&
   grep -q ' matched_wh=2000 fees_wh=0$' "$tmp/out" && ! grep -q ' fee [0-9]' "$tmp/out"; then
	ok "terms_override_input"
else
	sed 's/^/# /' "$tmp/err" "$tmp/out"
	nok "terms_override_input"
fi

echo "# phloemctl settle --interval on ledgers built from the golden files"
for in in "$here"/golden/*.in; do
	name=$(basename "$in" .in)
	d="$tmp/ledger-$name"
	start=$(sed -n 's/^interval_start *= *//p' "$in")
	len=$(sed -n 's/^interval_len *= *//p' "$in")
	if mkdir "$d" && "$mkledger" "$in" "$d" 2>"$tmp/err" &&
	   "$ctl" settle --dir "$d" --interval "$start/$len" --terms "$d/terms.ini" \
		--canonical >"$d/ledger.out" 2>>"$tmp/err" &&
	   "$ctl" settle --input "$d/translated.in" --canonical >"$d/input.out" 2>>"$tmp/err" &&
	   cmp -s "$d/ledger.out" "$d/input.out" &&
	   [ "$(grep '^totals' "$d/ledger.out")" = "$(grep '^totals' "${in%.in}.out")" ]; then
		ok "ledger_$name"
	else
		sed 's/^/# /' "$tmp/err"
		diff -u "$d/input.out" "$d/ledger.out" 2>&1 | head -20 | sed 's/^/# /'
		nok "ledger_$name"
	fi
done

echo "# bad input: a clear error and a non-zero exit"
bad() {
	local what=$1 want=$2; shift 2
	if "$ctl" settle "$@" >"$tmp/out" 2>"$tmp/err"; then
		nok "refuses_$what"; return
	fi
	if grep -q "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "refuses_$what"
	else
		sed 's/^/# /' "$tmp/err"
		nok "refuses_$what"
	fi
}
printf '[community]\nfee_ppm = 100\n[member a]\nkey = %s\nimport_wh = 5\n' \
	"$(printf 'a%.0s' {1..64})" >"$tmp/noop.in"
printf '[member a]\nkey = %s\nimport_wh = 5\n[member b]\nkey = %s\nexport_wh = 5\n' \
	"$(printf 'a%.0s' {1..64})" "$(printf 'a%.0s' {1..64})" >"$tmp/dup.in"
printf '[member a]\nkey = %s\nimport_wh = lots\n' "$(printf 'a%.0s' {1..64})" >"$tmp/num.in"
bad no_operator "operator is not a member" --input "$tmp/noop.in"
bad duplicate "same key" --input "$tmp/dup.in"
bad bad_number "import_wh" --input "$tmp/num.in"
bad missing_file "No such file" --input "$tmp/nonexistent.in"
bad unknown_option "unrecognized option\|unknown option" --input "$tmp/dup.in" --frobnicate
bad no_source "interval\|input" --json
bad bad_interval "interval" --interval yesterday
bad no_ledger "cannot open ledger" --dir "$tmp/nonexistent" --interval 1700000100/900
printf '[community]\ninterval_start = 5\n' >"$tmp/t.ini"
bad terms_sets_interval "comes from --interval" --dir "$tmp/ledger-01-basic" \
	--interval 1700000100/900 --terms "$tmp/t.ini"

echo "1..$n"
exit $rc
