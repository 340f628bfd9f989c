# SPDX-License-Identifier: GPL-2.0-only
# Build phloem's overlays with the Raspberry Pi kernel, so that
# RPI_KERNEL_DEVICETREE_OVERLAYS can put them on the boot partition
# (docs/yocto.md). The files/ entries are links into the repository's
# dts-overlays/, which is where they are checked (make check-dts).
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"

SRC_URI += "file://phloem-hat-rpi4.dtso \
            file://phloem-hat-rpi4-i2c-relays.dtso \
            file://phloem-hat-rpi5.dtso \
            file://phloem-house.dtsi"

PHLOEM_OVERLAYS = "phloem-hat-rpi4 phloem-hat-rpi4-i2c-relays phloem-hat-rpi5"

# The Raspberry Pi tree builds arch/arm/boot/dts/overlays/<name>-overlay.dts
# into <name>.dtbo. The Pi 4 overlays are written for mainline by default;
# PHLOEM_RPI_FIRMWARE_TREE selects this tree's labels.
do_configure:append() {
	ovl=${S}/arch/arm/boot/dts/overlays
	src=${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}
	cp $src/phloem-house.dtsi $ovl/
	for o in ${PHLOEM_OVERLAYS}; do
		{ echo '#define PHLOEM_RPI_FIRMWARE_TREE'; cat $src/$o.dtso; } >$ovl/$o-overlay.dts
		# Its Makefile lists overlays with `dtbo-$(CONFIG_ARCH_BCM2835) +=`
		# before it uses the list: add ours at the top.
		grep -q " $o.dtbo\$" $ovl/Makefile ||
			sed -i "1i dtbo-\$(CONFIG_ARCH_BCM2835) += $o.dtbo" $ovl/Makefile
	done
}
