#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# vmlinux-btf.sh SOURCE OUT.h
#
# Write the vmlinux.h that phloem_trace.bpf.c is compiled against, from the
# BTF of the kernel the tool is meant for (CO-RE relocates it to the running
# kernel anyway; the types only need to be that kernel's kind). SOURCE is:
#   - raw BTF (a target's /sys/kernel/btf/vmlinux, copied), or
#   - a vmlinux ELF with a .BTF section (a kernel build tree, Yocto's
#     STAGING_KERNEL_BUILDDIR/vmlinux), or
#   - a compressed boot image (Debian's /boot/vmlinuz-*): the ELF inside is
#     found by its compression magic and unpacked first (as the kernel's
#     scripts/extract-vmlinux does).
set -eu
src=${1:?usage: vmlinux-btf.sh SOURCE OUT.h}
out=${2:?usage: vmlinux-btf.sh SOURCE OUT.h}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

has_btf() {
	bpftool btf dump file "$1" format raw >/dev/null 2>&1
}

elf=
if has_btf "$src"; then
	elf=$src
else
	# magic  decompressor
	for m in '\037\213\010 gzip -dc' '\3757zXZ\000 xz -dc' '(\265/\375 zstd -qdc' \
		 '\135\000\000\000 xz -dc --format=lzma' 'BZh bzip2 -dc'; do
		magic=${m%% *}
		cmd=${m#* }
		# every place the magic occurs, first few only
		for off in $(LC_ALL=C grep -obUaP "$(printf '%b' "$magic" | od -An -tx1 |
			     sed 's/ *\([0-9a-f][0-9a-f]\)/\\x\1/g')" "$src" 2>/dev/null |
			     cut -d: -f1 | head -n 8); do
			tail -c +$((off + 1)) "$src" | $cmd > "$tmp/vmlinux" 2>/dev/null || true
			if [ -s "$tmp/vmlinux" ] && has_btf "$tmp/vmlinux"; then
				elf=$tmp/vmlinux
				break 2
			fi
		done
	done
fi
if [ -z "$elf" ]; then
	echo "vmlinux-btf.sh: no BTF in $src (a kernel built without CONFIG_DEBUG_INFO_BTF?)" >&2
	exit 1
fi
bpftool btf dump file "$elf" format c > "$tmp/vmlinux.h"
mv "$tmp/vmlinux.h" "$out"
