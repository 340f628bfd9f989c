#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages named on the command line that are missing,
# plus the unsigned image of the PREEMPT_RT kernel whose headers are
# installed (the VM tests boot it).
set -eu
missing=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	as_root apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}" >/dev/null
fi
kver=$(ls -d /lib/modules/*-rt-amd64/build 2>/dev/null | sort -V | tail -n1 | cut -d/ -f4)
[ -n "$kver" ] || kver=$(ls -d /usr/src/linux-headers-*-rt-amd64 | sort -V | tail -n1 | sed 's|.*/linux-headers-||')
img="linux-image-$kver-unsigned"
if ! dpkg-query -W -f='${Status}' "$img" 2>/dev/null | grep -q 'ok installed' &&
   ! dpkg-query -W -f='${Status}' "linux-image-$kver" 2>/dev/null | grep -q 'ok installed'; then
	echo "deps: installing $img (VM test kernel)"
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "$img" >/dev/null
fi
