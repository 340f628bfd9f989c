# SPDX-License-Identifier: GPL-2.0
# The small house the MQTT and web tests, bench and demo run phloemd on
# (sim backend): a site and a garage circuit, an EV and a heater on it.
# house_conf DIR: its configuration up to [history], files under DIR;
# the caller appends [sim], [mqtt], [web].
house_conf() {
	cat <<EOC
[agent]
backend = sim
socket = $1/sock
lease_s = 3
user =
group = nogroup

[circuit site]
channel = i0
breaker_a = 40
sim_base_a = 1

[circuit garage]
channel = i1
breaker_a = 32
limit_a = 20
sim_base_a = 2

[relay ev]
circuit = garage
priority = 10
min_off_s = 2
sim_load_a = 10

[relay heater]
circuit = garage
priority = 20
sim_load_a = 4

[history]
db = $1/h.db
EOC
}
