# SPDX-License-Identifier: GPL-2.0
# Debian 12 packages everything here needs; `make deps` installs the missing
# ones (once; the stamp is dropped when this list changes).
DEB_PKGS := build-essential clang libclang-rt-14-dev valgrind pkg-config \
	linux-headers-rt-amd64 linux-source-6.1 qemu-system-x86 busybox-static \
	kmod cpio xz-utils device-tree-compiler \
	libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libsodium-dev \
	libsqlite3-dev sqlite3 libinih-dev libmodbus-dev libbpf-dev iproute2 \
	libjson-c-dev libsystemd-dev gcc-arm-linux-gnueabihf file python3 \
	python3-yaml systemd gcc-aarch64-linux-gnu libc6-dev-armhf-cross \
	linux-libc-dev-armhf-cross bc bison flex libelf-dev libssl-dev \
	libmosquitto-dev mosquitto mosquitto-clients libmicrohttpd-dev \
	bpftool dwarves chromium frama-c-base z3 cvc4 why3 \
	python3-pymodbus mbpoll socat python3-nacl gpiod curl strace

DEPS_STAMP := $(BUILD)/.deps-$(shell echo $(DEB_PKGS) | md5sum | cut -c1-8)

deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	@$(TOP)/tests/lib/deps.sh $(DEB_PKGS)
	@# node and npm (the browser tests' playwright-core): Debian's, unless a
	@# node with its own npm is installed already (they conflict)
	@command -v npm >/dev/null || $(TOP)/tests/lib/deps.sh nodejs npm
	@mkdir -p $(BUILD) && touch $@

# The fresh-machine behaviour of the top Makefile, on this host (the full
# proof in a clean Debian root is tests/fresh/chroot.sh, by hand: slow).
.PHONY: check-fresh
check-fresh:
	@TOP=$(TOP) MAKE="$(MAKE)" $(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/fresh/make.sh
CHECKS += check-fresh
