#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run-fuzz.sh FUZZER SECONDS CORPUS_DIR: run a libFuzzer target for a
# bounded time, seeded with the ledger test vectors, and report one TAP line.
set -u
bin=$1 secs=$2 corpus=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
name=$(basename "$bin")
mkdir -p "$corpus"
# Seeds: every test-vector entry alone, and the whole set as one stream.
stream=$corpus/seed-stream
printf '\x01' > "$stream"
while read -r tag vname hex; do
	[ "$tag" = entry ] || continue
	echo -n "$hex" | xxd -r -p > "$corpus/seed-$vname"
	cat "$corpus/seed-$vname" >> "$stream"
done < "$top/tests/ledger/vectors.txt"
log=$(mktemp)
echo "1..1"
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	"$corpus" >"$log" 2>&1
rc=$?
runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n1)
cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+')
if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
	echo "ok 1 $name: ${runs} runs in ${secs} s, coverage ${cov:-?} edges, no crash"
else
	grep -E 'ERROR|SUMMARY|==[0-9]+==|abort|deadly' "$log" | head -n 20 | sed 's/^/# /'
	echo "not ok 1 $name: exit $rc (log kept in $log)"
	exit 1
fi
rm -f "$log"
