# SPDX-License-Identifier: GPL-2.0
# Device-tree overlays (dts-overlays/*.dtso) and their check.
#
#   make dtbo        compile every overlay to $(BUILD)/dts/<name>.dtbo
#   make check-dts   compile with no warnings, apply to the mainline
#                    bcm2711-rpi-4-b.dtb (and the Pi 5 overlay to an RP1
#                    stub), read the merged trees back with fdtget, and
#                    check driver, binding and overlays agree (tests/dts)
#
# The base tree and the dt-bindings headers come from Debian's
# linux-source-6.1 tarball, extracted here at build time (about 20 s).
DTS_TARBALL ?= $(firstword $(wildcard /usr/src/linux-source-6.1.tar.xz))
DTS_OUT     := $(BUILD)/dts
DTS_LINUX   := $(DTS_OUT)/linux
DTS_STAMP   := $(DTS_LINUX)/.extracted
OVERLAYS    := $(sort $(wildcard $(TOP)/dts-overlays/*.dtso))
DTBOS       := $(patsubst $(TOP)/dts-overlays/%.dtso,$(DTS_OUT)/%.dtbo,$(OVERLAYS))
# dtc's own default warnings, less unique_unit_address as in the kernel's
# default DTC_FLAGS: the binding numbers channel@N, circuit@N and relay@N
# each from 0 in one node.
DTC_WFLAGS  := -Wno-unique_unit_address
DTS_CPP      = cpp -nostdinc -undef -x assembler-with-cpp -D__DTS__ \
	-I $(DTS_LINUX)/include -I $(TOP)/dts-overlays

$(DTS_STAMP): | deps
	@mkdir -p $(DTS_LINUX)
	@echo "  EXTRACT dt-bindings and bcm2711 trees from $(DTS_TARBALL)"
	@xz -dc $(DTS_TARBALL) | tar -x -C $(DTS_LINUX) --strip-components=1 --wildcards \
		'linux-source-6.1/include/dt-bindings/*' \
		'linux-source-6.1/arch/arm/boot/dts/bcm*'
	@touch $@

$(DTS_OUT)/%.dtbo: $(TOP)/dts-overlays/%.dtso $(wildcard $(TOP)/dts-overlays/*.dtsi) $(DTS_STAMP)
	@echo "  DTC     $(notdir $@)"
	@$(DTS_CPP) $< -o $@.pp
	@dtc -@ $(DTC_WFLAGS) -I dts -O dtb -o $@ $@.pp

.PHONY: dtbo check-dts
dtbo: $(DTBOS)

# What the check runs beyond `make deps` (installed once, if missing).
DTS_PKGS := device-tree-compiler cpp python3 python3-yaml

check-dts: $(DTS_STAMP)
	@$(TOP)/tests/lib/deps.sh $(DTS_PKGS)
	@TOP=$(TOP) OUT=$(DTS_OUT) LINUX=$(DTS_LINUX) DTC_WFLAGS="$(DTC_WFLAGS)" \
		$(TOP)/tests/lib/run-tap.sh $(RESULTS)/$@.tap $(TOP)/tests/dts/check.sh

ALL    += dtbo
CHECKS += check-dts
