# SPDX-License-Identifier: GPL-2.0-only
SUMMARY = "phloem agent: phloemd (policy daemon) and phloemctl"
DESCRIPTION = "phloemd moves the kernel's shedding targets by time of use, \
keeps history and the neighbourhood ledger; phloemctl inspects and drives it."

require inc/phloem.inc
LICENSE = "GPL-2.0-only"

DEPENDS = "libnl libsodium libmodbus libbpf sqlite3 libinih json-c"

# MQTT (libmosquitto, meta-oe) and the web dashboard (libmicrohttpd,
# oe-core): phloemd builds against their headers but loads the libraries
# with dlopen() only when [mqtt] or [web] is configured (a daemon with
# neither stays small), so no shlibs dependency is generated: the runtime
# packages come from PACKAGECONFIG. The dashboard's page is embedded in
# phloemd (.incbin): there are no web files to install.
# phloemd never uses libmicrohttpd's own TLS (the dashboard is plain HTTP
# on localhost by default): PACKAGECONFIG:remove:pn-libmicrohttpd = "https"
# in the distro or local.conf drops GnuTLS from the image and about 1.5 MiB
# from phloemd's resident memory with the dashboard on (docs/web.md; with
# https, phloemd keeps GnuTLS from initialising: agent/phloemd/tlsskip.c).
DEPENDS += "mosquitto libmicrohttpd"
PACKAGECONFIG ??= "mqtt web"
PACKAGECONFIG[mqtt] = ",,,libmosquitto1"
PACKAGECONFIG[web] = ",,,libmicrohttpd"

inherit systemd pkgconfig

# phloemd talks to the site's PV, battery and meters over Modbus/SunSpec
# (docs/modbus.md); it loads libmodbus with dlopen() only when a [device]
# or [modbus_server] section is configured (agent/phloemd/mblib.h), so no
# shlibs dependency is generated: the recipe says it, so that an image
# without it fails at build, not at run time.
RDEPENDS:${PN} += "libmodbus"
# libnl-route is loaded with dlopen() only when [peers] interfaces are
# configured (agent/lib/dynlib): no shlibs dependency, so it is said here.
RDEPENDS:${PN} += "libnl-route"
# phloemd loads libsodium only for [peers] (agent/phloemd/sodiumlib.h);
# phloemctl, in the same package, links it: shlibs finds it through that.

# The agent without the module is of little use, but an image may build
# the module into its kernel instead: recommend, do not depend.
RRECOMMENDS:${PN} = "kernel-module-phloem"

SYSTEMD_SERVICE:${PN} = "phloemd.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

# The top Makefile builds the agent under BUILD; CC and the flags are the
# cross ones, pkg-config is the sysroot's (pkgconfig class). mk/agent.mk
# links with $(CFLAGS) and no $(LDFLAGS): LDFLAGS ride in CFLAGS (gcc
# ignores -Wl, options when only compiling) so that the binaries get
# GNU_HASH and the QA check "ldflags" passes.
EXTRA_OEMAKE = "BUILD=${B} CC='${CC}' AR='${AR}' CFLAGS='${CFLAGS} ${LDFLAGS}' \
                PKG_CONFIG=pkg-config SBINDIR=${sbindir}"

do_configure[noexec] = "1"

do_compile() {
	oe_runmake -C ${S} agent-bins unit
}

# The same tree as `make install PREFIX=/usr` (mk/install.mk), written out
# so that each path is the Yocto variable for it; tests/yocto checks the
# two agree file by file.
do_install() {
	install -d ${D}${bindir} ${D}${sbindir}
	install -m 0755 ${B}/agent/phloemctl ${D}${bindir}/phloemctl
	install -m 0755 ${B}/agent/phloemd ${D}${sbindir}/phloemd

	install -D -m 0644 ${B}/packaging/phloemd.service ${D}${systemd_system_unitdir}/phloemd.service
	install -D -m 0644 ${S}/packaging/60-phloem.rules ${D}${nonarch_base_libdir}/udev/rules.d/60-phloem.rules
	install -D -m 0644 ${S}/packaging/phloem.sysusers ${D}${nonarch_libdir}/sysusers.d/phloem.conf
	install -D -m 0644 ${S}/packaging/phloem.modules-load ${D}${nonarch_libdir}/modules-load.d/phloem.conf
	install -D -m 0644 ${S}/packaging/phloemd.conf ${D}${sysconfdir}/phloem/phloemd.conf

	for m in ${S}/docs/man/*.[1-8]; do
		[ -e "$m" ] || continue
		install -D -m 0644 "$m" ${D}${mandir}/man${m##*.}/$(basename "$m")
	done
	for c in ${S}/agent/*/*.bash-completion; do
		[ -e "$c" ] || continue
		install -D -m 0644 "$c" ${D}${datadir}/bash-completion/completions/$(basename "$c" .bash-completion)
	done
}

FILES:${PN} += "${nonarch_base_libdir}/udev/rules.d \
                ${nonarch_libdir}/sysusers.d \
                ${nonarch_libdir}/modules-load.d \
                ${datadir}/bash-completion"
CONFFILES:${PN} = "${sysconfdir}/phloem/phloemd.conf"
