#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh: install what the arm64 (and arm32) cross-builds need, once.
# Idempotent: does nothing when everything is there, so `make check` may call
# it every time. The agent's libraries come as Debian multiarch :arm64 -dev
# packages, which install beside the amd64 ones.
set -eu
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

host_pkgs="gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf binutils-aarch64-linux-gnu
	linux-libc-dev-armhf-cross libc6-dev-armhf-cross clang
	file bc bison flex libssl-dev kmod xz-utils pkg-config"
arm64_pkgs="libc6-dev libsodium-dev libsqlite3-dev libinih-dev libnl-3-dev
	libnl-genl-3-dev libnl-route-3-dev libmodbus-dev libbpf-dev libjson-c-dev
	libsystemd-dev"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

missing=()
for p in $host_pkgs; do installed "$p" || missing+=("$p"); done
for p in $arm64_pkgs; do installed "$p:arm64" || missing+=("$p:arm64"); done
need_update=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	as_root dpkg --add-architecture arm64
	need_update=1
fi
# A foreign arch's package lists exist only after an update with it enabled.
ls /var/lib/apt/lists/*_binary-arm64_Packages* >/dev/null 2>&1 || need_update=1
[ ${#missing[@]} -eq 0 ] && [ -z "$need_update" ] && exit 0
# A mirror caught mid-sync fails one index; what it needs may still be there.
[ -z "$need_update" ] || as_root apt-get update -q >/dev/null || echo "arm64 deps: apt-get update had errors" >&2
[ ${#missing[@]} -eq 0 ] && exit 0
echo "arm64 deps: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
	"${missing[@]}" >/dev/null
