#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh: the device-tree overlays against the trees they are for, TAP.
# Environment (from mk/dts.mk): TOP, OUT (scratch dir), LINUX (the parts of
# the kernel source extracted there), DTC_WFLAGS.
#
# Per overlay: it compiles with no warning; it applies with fdtoverlay to
# its base tree; in the merged tree the phloem node is where it should be
# and every phandle it holds (io-channels, relay-gpios, the ADC's
# vref-supply) resolves to a node of the right kind with the right number
# of cells; the references inside the node (channel, circuit, relay
# indices) are in range. Then props.py checks driver, binding and overlays
# agree on property names, and the binding's example is compiled.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
: "${TOP:?}" "${OUT:?}" "${LINUX:?}" "${DTC_WFLAGS=}"
mkdir -p "$OUT"

dts_cpp() {
	# shellcheck disable=SC2086
	cpp -nostdinc -undef -x assembler-with-cpp -D__DTS__ ${CPP_EXTRA:-} \
		-I "$LINUX/include" -I "$LINUX/arch/arm/boot/dts" -I "$TOP/dts-overlays" "$@"
}

# compile SRC OUT [dtc flags]: cpp + dtc -@; dtc's stderr in OUT.err.
compile() {
	local src=$1 out=$2; shift 2
	dts_cpp "$src" -o "$out.pp" 2>"$out.err" &&
		dtc -@ "$@" -I dts -O dtb -o "$out" "$out.pp" 2>>"$out.err"
}

# --- base trees --------------------------------------------------------------
# The mainline Pi 4 tree, with the kernel's own default dtc flags (its
# warnings are not ours to fix); -@ so that overlays can resolve labels.
pi4=$OUT/bcm2711-rpi-4-b.dtb
if compile "$LINUX/arch/arm/boot/dts/bcm2711-rpi-4-b.dts" "$pi4" \
	-Wno-unit_address_vs_reg -Wno-avoid_unnecessary_addr_size -Wno-alias_paths \
	-Wno-graph_child_address -Wno-simple_bus_reg -Wno-unique_unit_address; then
	tap_ok "bcm2711-rpi-4-b.dtb built from the kernel source with symbols"
else
	tap_fail "bcm2711-rpi-4-b.dtb built from the kernel source with symbols" "$(cat "$pi4.err")"
fi
rp1=$OUT/rp1-stub.dtb
if compile "$here/rp1-stub.dts" "$rp1" && [ ! -s "$rp1.err" ]; then
	tap_ok "RP1 stub base tree (Pi 5) compiles with no warning"
else
	tap_fail "RP1 stub base tree (Pi 5) compiles with no warning" "$(cat "$rp1.err")"
fi

# fdtget wrapper: empty output when the node or property is missing.
get() { fdtget "$@" 2>/dev/null; }
phandle_of() { get -t u "$1" "$2" phandle; }

# check_merged MERGED NAME ADC_PATH GPIO_PATH SPI_PATH: the read-back checks.
check_merged() {
	local m=$1 name=$2 adc=$3 gpio=$4 spi=$5 errs=() cells=() v n i ph want
	local node=/phloem

	[ "$(get "$m" $node compatible)" = "phloem,hat" ] ||
		errs+=("$node: compatible is '$(get "$m" $node compatible)'")

	# io-channels: <phandle index> pairs, all to the MCP3208 with one cell.
	want=$(phandle_of "$m" "$adc")
	[ -n "$want" ] || errs+=("$adc: no such node or no phandle")
	[ "$(get "$m" "$adc" compatible)" = "microchip,mcp3208" ] ||
		errs+=("$adc: not an MCP3208")
	[ "$(get -t u "$m" "$adc" '#io-channel-cells')" = 1 ] ||
		errs+=("$adc: #io-channel-cells is not 1")
	read -ra cells <<<"$(get -t u "$m" $node io-channels)"
	n=$(get "$m" $node io-channel-names | wc -w)
	[ "${#cells[@]}" -eq $((2 * n)) ] && [ "$n" -ge 2 ] ||
		errs+=("io-channels has ${#cells[@]} cells for $n io-channel-names")
	for ((i = 0; i < ${#cells[@]}; i += 2)); do
		[ "${cells[i]}" = "$want" ] || errs+=("io-channels[$((i / 2))] -> phandle ${cells[i]}, ADC is $want")
		[ "${cells[i + 1]}" -lt 8 ] || errs+=("io-channels[$((i / 2))]: MCP3208 channel ${cells[i + 1]}")
	done
	nchan=$n

	# vref-supply: a fixed regulator, else mcp320x cannot scale.
	ph=$(get -t u "$m" "$adc" vref-supply)
	v=$(get "$m" /__symbols__ phloem_vref)
	[ -n "$ph" ] && [ "$ph" = "$(phandle_of "$m" "$v")" ] &&
		[ "$(get "$m" "$v" compatible)" = "regulator-fixed" ] ||
		errs+=("$adc: vref-supply does not resolve to the phloem_vref regulator")
	[ "$(get "$m" "$spi" status)" = okay ] || errs+=("$spi: status is not okay")

	# relay-gpios: <phandle line flags>, all to a 2-cell GPIO controller.
	want=$(phandle_of "$m" "$gpio")
	get "$m" "$gpio" gpio-controller >/dev/null || errs+=("$gpio: not a gpio-controller")
	[ "$(get -t u "$m" "$gpio" '#gpio-cells')" = 2 ] || errs+=("$gpio: #gpio-cells is not 2")
	read -ra cells <<<"$(get -t u "$m" $node relay-gpios)"
	[ $(( ${#cells[@]} % 3 )) -eq 0 ] && [ "${#cells[@]}" -gt 0 ] ||
		errs+=("relay-gpios: ${#cells[@]} cells, not a multiple of 3")
	for ((i = 0; i < ${#cells[@]}; i += 3)); do
		[ "${cells[i]}" = "$want" ] || errs+=("relay-gpios[$((i / 3))] -> phandle ${cells[i]}, controller is $want")
	done
	nrelay=$(( ${#cells[@]} / 3 ))

	# Child nodes and the indices between them.
	local kids circuits=() labels=() c r
	kids=$(get -l "$m" $node | sort)
	for i in $(seq 0 $((nchan - 1))); do
		grep -qx "channel@$i" <<<"$kids" || errs+=("no channel@$i for io-channels[$i]")
		[ "$(get -t u "$m" $node/channel@$i reg)" = "$i" ] || errs+=("channel@$i: reg is not $i")
	done
	grep -qx 'circuit@0' <<<"$kids" || errs+=("no circuit@0 (the site)")
	for c in $(grep '^circuit@' <<<"$kids"); do
		r=$(get -t u "$m" $node/$c reg); circuits+=("$r")
		[ "$c" = "circuit@$r" ] || errs+=("$c: reg $r")
		v=$(get -t u "$m" $node/$c phloem,channel)
		[ -n "$v" ] && [ "$v" -lt "$nchan" ] || errs+=("$c: phloem,channel '$v' out of range")
		labels+=("$(get "$m" $node/$c label)")
	done
	n=0
	for c in $(grep '^relay@' <<<"$kids"); do
		n=$((n + 1))
		r=$(get -t u "$m" $node/$c reg)
		[ "$c" = "relay@$(printf %x "$r")" ] || errs+=("$c: reg $r")
		[ "$r" -lt "$nrelay" ] || errs+=("$c: reg $r but only $nrelay relay-gpios")
		v=$(get -t u "$m" $node/$c phloem,circuit)
		[[ " ${circuits[*]} " == *" $v "* ]] || errs+=("$c: phloem,circuit '$v' is no circuit's reg")
		labels+=("$(get "$m" $node/$c label)")
	done
	[ "$n" -eq "$nrelay" ] || errs+=("$n relay nodes for $nrelay relay-gpios")
	v=$(printf '%s\n' "${labels[@]}" | sort | uniq -d)
	[ -z "$v" ] || errs+=("labels used twice: $v")

	if [ ${#errs[@]} -eq 0 ]; then
		tap_ok "$name: merged tree has /phloem, $nchan channels, $nrelay relays, phandles resolved"
	else
		tap_fail "$name: merged tree has /phloem, channels, relays, phandles resolved" "${errs[@]}"
	fi
}

# --- overlays ----------------------------------------------------------------
# name base adc-path gpio-path spi-path
targets="
phloem-hat-rpi4 $pi4 /soc/spi@7e204000/adc@0 /soc/gpio@7e200000 /soc/spi@7e204000
phloem-hat-rpi4-i2c-relays $pi4 /soc/spi@7e204000/adc@0 /soc/i2c@7e804000/gpio@20 /soc/spi@7e204000
phloem-hat-rpi5 $rp1 /rp1@c040000000/spi@c040050000/adc@0 /rp1@c040000000/gpio@c0400d0000 /rp1@c040000000/spi@c040050000
"
merged_list=()
for f in "$TOP"/dts-overlays/*.dtso; do
	name=$(basename "$f" .dtso)
	read -r _ base adc gpio spi <<<"$(grep "^$name " <<<"$targets")"
	if [ -z "${base:-}" ]; then
		tap_fail "$name: has a base tree to be checked against" "add it to tests/dts/check.sh"
		continue
	fi
	o=$OUT/$name.dtbo
	# shellcheck disable=SC2086
	if compile "$f" "$o" $DTC_WFLAGS && [ ! -s "$o.err" ]; then
		tap_ok "$name: compiles with no warning"
	else
		tap_fail "$name: compiles with no warning" "$(cat "$o.err")"
		continue
	fi
	# The Raspberry Pi kernel's tree is not in linux-source-6.1: that build
	# of the overlay is compiled (no warning, labels as fixups) but not applied.
	if grep -q PHLOEM_RPI_FIRMWARE_TREE "$f"; then
		# shellcheck disable=SC2086
		if CPP_EXTRA=-DPHLOEM_RPI_FIRMWARE_TREE compile "$f" "$o.rpi" $DTC_WFLAGS &&
		   [ ! -s "$o.rpi.err" ] && fdtget "$o.rpi" /__fixups__ spidev0 >/dev/null; then
			tap_ok "$name: compiles for the Raspberry Pi kernel tree (&spi0, spidev0 off)"
		else
			tap_fail "$name: compiles for the Raspberry Pi kernel tree" "$(cat "$o.rpi.err")"
		fi
	fi
	m=$OUT/$name.merged.dtb
	if fdtoverlay -i "$base" -o "$m" "$o" 2>"$m.err"; then
		tap_ok "$name: applies with fdtoverlay to $(basename "$base")"
	else
		tap_fail "$name: applies with fdtoverlay to $(basename "$base")" "$(cat "$m.err")"
		continue
	fi
	check_merged "$m" "$name" "$adc" "$gpio" "$spi"
	merged_list+=("$m")
done

# --- driver, binding and overlays agree ----------------------------------------
python3 "$here/props.py" --tap-start $((tap_n + 1)) --top "$TOP" --cpp-include "$LINUX/include" \
	--dtc-flags="$DTC_WFLAGS" --out "$OUT" "${merged_list[@]}" >"$OUT/props.tap"
rc=$?
cat "$OUT/props.tap"
tap_n=$((tap_n + $(grep -cE '^(not )?ok ' "$OUT/props.tap")))
tap_failed=$((tap_failed + $(grep -c '^not ok ' "$OUT/props.tap")))
[ $rc -eq 0 ] || [ "$tap_failed" -gt 0 ] || tap_fail "props.py exited with status $rc"
tap_done
