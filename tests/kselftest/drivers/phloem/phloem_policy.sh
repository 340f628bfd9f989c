#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# phloem_policy.sh: any user may dump a generic netlink family's policies
# (`genl ctrl policy`, CTRL_CMD_GETPOLICY needs no capability). Dump every
# policy of the phloem family as an unprivileged user (nobody) and check
# that it succeeds and that the kernel logged no WARNING on the way: a policy entry the dump
# cannot describe (a validation function) made 6.1 WARN, which with
# panic_on_warn is a crash any local user can cause. TAP; skip (4) when
# the family or the tools are absent.
n=0 fail=0
tap() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
echo "TAP version 13"
for t in genl setpriv dmesg; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t not found"; exit 4; }
done
genl ctrl get name phloem >/dev/null 2>&1 || { echo "1..0 # SKIP no phloem family"; exit 4; }
echo "1..3"
before=$(dmesg | grep -c -E 'WARNING:|------------\[ cut here')
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups genl ctrl policy name phloem 2>&1)
st=$?
tap $st "policy dump as uid 65534 succeeds (status $st)"
echo "$out" | grep -q 'policy\[' ; tap $? "the dump lists the family's policies"
after=$(dmesg | grep -c -E 'WARNING:|------------\[ cut here')
[ "$after" = "$before" ]
tap $? "no kernel WARNING from the dump ($before before, $after after)"
[ $fail = 0 ]
