#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh BINDIR: the small-house demo, run inside the test VM by
# `make demo` (phloem.ko bound to phloem_sim.ko). A narrator line, then the
# live readings of phloem_watch, while this script plays the house's loads
# through the simulator's debugfs.
set -u
bin=${1:?usage: demo.sh BINDIR}
sim=/sys/kernel/debug/phloem_sim/hat0
set_sim() { echo "$2" > "$sim/$1"; }
say() { printf '\n    ### %s\n\n' "$*"; }

[ -e /dev/phloem0 ] || { echo "demo: /dev/phloem0 missing"; exit 1; }

# A quiet evening: the oven and dishwasher are off, the heat pump and the
# water heater run, the fridge and the lights are on; in the garage the
# heater keeps the frost out and nothing charges yet.
set_sim relay2/load_ma 0
set_sim relay3/load_ma 0
set_sim relay6/load_ma 0
set_sim relay5/load_ma 3000
set_sim relay0/load_ma 0
set_sim relay1/load_ma 3000

# After probe the kernel holds the relays in their safe state until it has
# seen a clean mains cycle, then brings them back one per restore delay.
printf 'waiting for the kernel to bring every relay back after boot'
for i in $(seq 100); do
	[ "$(cat $sim/relays)" = 255 ] && break
	printf .; sleep 0.2
done
echo

cat <<'TXT'

  phloem demo: a small house behind one 40 A incomer
  ---------------------------------------------------
  circuits: site 40 A (C), kitchen 16 A (B), garage 32 A (B), heating 20 A (C)
  relays  : Ev charger, Garage-heater, Dishwasher, Oven, Fridge*, Heatpump,
            Water-heater, Lights*          (* critical: never shed)
  shed order on overload: ev (10) < water-heater (15) < dishwasher (20)
            < garage-heater (30) < heatpump (40) < oven (60)
  relays column: capital = on, '.' = off, lower case = shed by the kernel
  readings every 25 mains cycles (0.5 s); the kernel acts on every sample.
  Emulated under QEMU TCG: times are functional, not hardware figures.
TXT

"$bin/phloem_watch" -e 25 -t 19 &
watch=$!
sleep 3
say "18:00  the EV is plugged in and charges at 16 A: garage 19 A of 32 A"
set_sim relay0/load_ma 16000
sleep 3
say "18:01  frost alarm: the garage heater goes to full power, 26 A: 42 A on a 32 A circuit (trips at 125% = 40 A)"
set_sim relay1/step_load_ma 26000
set_sim relay1/step_in_ms 0
sleep 4
say "18:02  the heater reaches temperature and throttles back to 5 A: the EV comes back once its minimum off time (2 s) is over and the headroom has lasted 1 s"
set_sim relay1/load_ma 5000
wait $watch

say "What the kernel counted"
"$bin/phloem_watch" -S
