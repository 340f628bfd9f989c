#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh: `make install DESTDIR=$ROOT PREFIX=/usr`, then check the tree
# against what a package must contain, file by file with modes; that the
# pieces agree with each other and with the kernel (group, device names,
# module names, configuration keys); and that systemd's own tools accept the
# unit and the sysusers file. TAP. Environment: TOP, ROOT, MAKE.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
: "${TOP:?}" "${ROOT:?}" "${MAKE:=make}"

rm -rf "$ROOT"; mkdir -p "$ROOT"
log=$ROOT.log
# -k: one part failing to build must not hide how the others install.
if $MAKE --no-print-directory -k -C "$TOP" install DESTDIR="$ROOT" PREFIX=/usr >"$log" 2>&1; then
	tap_ok "make install DESTDIR=... PREFIX=/usr"
else
	tap_fail "make install DESTDIR=... PREFIX=/usr" "$(grep -E '\*\*\*|error:|cannot|No such' "$log" | head -n 15)"
fi

# expect PATH MODE: one installed file and its permission bits.
declare -A expected
expect() {
	local path=$1 mode=$2 got
	expected[$path]=1
	if [ ! -f "$ROOT/$path" ]; then
		tap_fail "/$path installed" "missing"
		return
	fi
	got=$(stat -c %a "$ROOT/$path")
	if [ "$got" = "$mode" ]; then
		tap_ok "/$path installed, mode $mode"
	else
		tap_fail "/$path installed, mode $mode" "mode is $got"
	fi
}

# Modules: under lib/modules/<kver>/extra, <kver> being the release the
# module was built for (its vermagic), which is where modprobe looks.
kver=$(modinfo -F vermagic "$TOP/kernel/phloem.ko" 2>/dev/null | cut -d' ' -f1)
if [ -z "$kver" ]; then
	tap_fail "kernel/phloem.ko built (its vermagic names the install directory)"
else
	for ko in phloem.ko phloem_sim.ko; do
		p=$(cd "$ROOT" && find "lib/modules/$kver/extra" -name "$ko" 2>/dev/null | head -n1)
		expect "${p:-lib/modules/$kver/extra/$ko}" 644
	done
fi

bins=$($MAKE --no-print-directory -s -C "$TOP" print-agent-bins)
[ -n "$bins" ] || tap_fail "agent programs defined (AGENT_BINS)"
for b in $bins; do
	n=${b##*/}
	case $n in phloemd) expect "usr/sbin/$n" 755 ;; *) expect "usr/bin/$n" 755 ;; esac
done
case " $bins " in
*/phloemd\ *) ;;
*) tap_skip "/usr/sbin/phloemd installed" "phloemd is not built yet (a later issue)" ;;
esac

expect usr/lib/systemd/system/phloemd.service 644
expect usr/lib/udev/rules.d/60-phloem.rules 644
expect usr/lib/sysusers.d/phloem.conf 644
expect usr/lib/modules-load.d/phloem.conf 644
expect etc/phloem/phloemd.conf 644
nman=0
for m in "$TOP"/docs/man/*.[1-8]; do
	[ -e "$m" ] || continue
	expect "usr/share/man/man${m##*.}/${m##*/}" 644
	nman=$((nman + 1))
done
[ $nman -gt 0 ] || tap_skip "man pages installed" "docs/man has none yet"
for c in "$TOP"/agent/*/*.bash-completion; do
	[ -e "$c" ] || continue
	n=${c##*/}
	expect "usr/share/bash-completion/completions/${n%.bash-completion}" 644
done

# Nothing else: a package must not ship stray files.
stray=$(cd "$ROOT" && find . -type f | sed 's|^\./||' | while read -r f; do
	[ -n "${expected[$f]:-}" ] || echo "$f"
done)
# modules_install also writes the kernel's index files when it can.
stray=$(printf '%s\n' "$stray" | grep -vE '^lib/modules/[^/]+/modules\.[a-z.]+$' | sed '/^$/d')
if [ -z "$stray" ]; then tap_ok "no unexpected files installed"
else tap_fail "no unexpected files installed" "$stray"; fi

bad=$(cd "$ROOT" && find . \( -perm -o+w -o -perm -u+s -o -perm -g+s \) ! -type l)
if [ -z "$bad" ]; then tap_ok "nothing world-writable, setuid or setgid"
else tap_fail "nothing world-writable, setuid or setgid" "$bad"; fi

unit=$ROOT/usr/lib/systemd/system/phloemd.service
if grep -qx 'ExecStart=/usr/sbin/phloemd' "$unit" 2>/dev/null && ! grep -q '@[A-Z]*@' "$unit"; then
	tap_ok "unit names /usr/sbin/phloemd, no placeholder left"
else
	tap_fail "unit names /usr/sbin/phloemd, no placeholder left" "$(grep -E 'ExecStart|@' "$unit" 2>&1)"
fi

# systemd's parser on the unit, outside the root (verify --root wants a
# whole system there): a copy whose ExecStart is the installed phloemd, or
# /bin/true until phloemd exists; every other line is checked as is.
tmpu=$(mktemp -d)
if [ -x "$ROOT/usr/sbin/phloemd" ]; then
	sed "s|^ExecStart=/usr/sbin/phloemd|ExecStart=$ROOT/usr/sbin/phloemd|" "$unit" >"$tmpu/phloemd.service"
	what="systemd-analyze verify accepts the unit"
else
	sed 's|^ExecStart=.*|ExecStart=/bin/true|' "$unit" >"$tmpu/phloemd.service"
	what="systemd-analyze verify accepts the unit (ExecStart stubbed: no phloemd yet)"
fi
tap_check "$what" systemd-analyze verify --man=no "$tmpu/phloemd.service"
unit_checked=$tmpu/phloemd.service
for k in Type=notify WatchdogSec= NoNewPrivileges=yes ProtectSystem=strict DevicePolicy=closed; do
	if grep -q "^$k" "$unit"; then tap_ok "unit has $k"; else tap_fail "unit has $k"; fi
done
# The hardening as systemd scores it (0 best .. 10 worst); above 3 means a
# directive was lost.
score=$(systemd-analyze security --offline=yes "${unit_checked:-$unit}" 2>/dev/null |
	sed -n 's/.*Overall exposure level for phloemd.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'; then
	tap_ok "systemd-analyze security exposure $score <= 3.0"
else
	tap_fail "systemd-analyze security exposure <= 3.0" "score: ${score:-none}"
fi
[ -z "${tmpu:-}" ] || rm -rf "$tmpu"

# sysusers on a copy of the root: the group exists afterwards.
sysroot=$(mktemp -d)
mkdir -p "$sysroot/etc" "$sysroot/usr/lib/sysusers.d"
cp "$ROOT/usr/lib/sysusers.d/phloem.conf" "$sysroot/usr/lib/sysusers.d/"
if systemd-sysusers --root="$sysroot" >"$sysroot.log" 2>&1 &&
   grep -q '^phloem:' "$sysroot/etc/group" && grep -q '^phloem:' "$sysroot/etc/passwd"; then
	tap_ok "systemd-sysusers creates group and user phloem"
else
	tap_fail "systemd-sysusers creates group and user phloem" "$(cat "$sysroot.log")"
fi
rm -rf "$sysroot" "$sysroot.log"

# The pieces agree: udev's subsystem and device names are the kernel's class
# and node names, the group is the one sysusers creates and phloemd uses.
rules=$ROOT/usr/lib/udev/rules.d/60-phloem.rules
class=$(sed -n 's/.*class_create([^,]*, *"\([^"]*\)").*/\1/p' "$TOP/kernel/chardev.c" | head -n1)
node=$(sed -n 's/.*dev_set_name([^,]*, *"\([a-z_]*\)%d".*/\1/p' "$TOP/kernel/chardev.c" | head -n1)
if [ -n "$class" ] && grep -q "SUBSYSTEM==\"$class\"" "$rules" &&
   [ -n "$node" ] && grep -q "KERNEL==\"$node\[0-9\]\*\"" "$rules"; then
	tap_ok "udev rule matches the kernel's class \"$class\" and nodes $node*"
else
	tap_fail "udev rule matches the kernel's class and node names" "class '$class' node '$node'" "$(grep -v '^#' "$rules")"
fi
region=$(sed -n 's/.*alloc_chrdev_region([^"]*"\([^"]*\)").*/\1/p' "$TOP/kernel/chardev.c" | head -n1)
if [ -n "$region" ] && grep -qx "DeviceAllow=char-$region rw" "$unit"; then
	tap_ok "unit's DeviceAllow names the kernel's char major \"$region\""
else
	tap_fail "unit's DeviceAllow names the kernel's char major" "region '$region'"
fi
grp=$(sed -n 's/.*GROUP="\([^"]*\)".*/\1/p' "$rules")
conf=$ROOT/etc/phloem/phloemd.conf
if [ "$grp" = phloem ] && grep -qE "^g $grp " "$ROOT/usr/lib/sysusers.d/phloem.conf" &&
   grep -qx "group = $grp" "$conf"; then
	tap_ok "udev rule, sysusers and phloemd.conf agree on group \"$grp\""
else
	tap_fail "udev rule, sysusers and phloemd.conf agree on the group" "udev: '$grp'"
fi
mods=$(grep -vE '^(#|$)' "$ROOT/usr/lib/modules-load.d/phloem.conf")
missing=
for m in $mods; do
	find "$ROOT/lib/modules" -name "$m.ko" | grep -q . || missing="$missing $m"
done
if [ -n "$mods" ] && [ -z "$missing" ]; then tap_ok "modules-load.d names installed modules ($mods)"
else tap_fail "modules-load.d names installed modules" "not installed:${missing:- (none listed)}"; fi

# The example configuration uses only sections and keys phloemd knows: its
# parser lists them in its "unknown key (...)" messages.
if out=$(python3 "$here/conf_keys.py" "$TOP/agent/phloemd/config.c" "$conf" 2>&1); then
	tap_ok "phloemd.conf uses only keys phloemd's parser knows"
else
	tap_fail "phloemd.conf uses only keys phloemd's parser knows" "$out"
fi

# And phloemd itself accepts it, when it is built.
if [ -x "$ROOT/usr/sbin/phloemd" ]; then
	tap_check "phloemd --check accepts the installed phloemd.conf" \
		"$ROOT/usr/sbin/phloemd" --check --config "$conf"
else
	tap_skip "phloemd --check accepts the installed phloemd.conf" "phloemd not built"
fi

# A second install keeps a configuration that was edited.
echo "# edited" >>"$conf"
if $MAKE --no-print-directory -C "$TOP" install-data DESTDIR="$ROOT" PREFIX=/usr >>"$log" 2>&1 &&
   tail -n1 "$conf" | grep -qx '# edited'; then
	tap_ok "reinstall keeps an edited /etc/phloem/phloemd.conf"
else
	tap_fail "reinstall keeps an edited /etc/phloem/phloemd.conf"
fi
sed -i '$d' "$conf"
tap_done
