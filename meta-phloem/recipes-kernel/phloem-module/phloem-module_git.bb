# SPDX-License-Identifier: GPL-2.0-only
SUMMARY = "phloem kernel module: real-time load shedding for the metering HAT"
DESCRIPTION = "phloem.ko meters every mains cycle from an IIO ADC and sheds \
low-priority loads through relay GPIOs within one cycle. phloem_sim.ko is the \
simulated HAT used by the tests."

require inc/phloem.inc
LICENSE = "GPL-2.0-only"

inherit module

# module.bbclass passes KERNEL_SRC (and O=, CC, LD) to the top Makefile,
# whose `modules` and `modules_install` targets run Kbuild with M= the
# source tree; MODLIB from module.bbclass puts the modules under
# ${nonarch_base_libdir}/modules/<kver>/extra/.
EXTRA_OEMAKE += "KERNEL_SRC=${STAGING_KERNEL_DIR}"
MAKE_TARGETS = "modules"
MODULES_INSTALL_TARGET = "modules_install"

# Packages kernel-module-phloem and kernel-module-phloem-sim come from the
# module class; load the driver at boot (the overlay's node would also
# autoload it through its modalias).
RPROVIDES:${PN} += "kernel-module-phloem"
KERNEL_MODULE_AUTOLOAD += "phloem"
# The ADC driver the HAT's overlay binds.
RRECOMMENDS:${PN} += "kernel-module-mcp320x"
