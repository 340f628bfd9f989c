#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check Home Assistant MQTT discovery messages as Home Assistant would.

Input: a `mosquitto_sub -v` log (TOPIC PAYLOAD per line) holding the
retained discovery configs and the state topics. Rules from Home
Assistant's MQTT integration (sensor, switch and binary_sensor platform
schemas, the device and origin schemas, the sensor's units per device class
and state classes; /work/shared/notes/standards.md). Prints TAP-ish
diagnostics; exits 1 when any config would be refused or would not show.
"""
import json
import re
import sys

COMMON = {"name", "unique_id", "object_id", "default_entity_id", "availability_topic",
          "payload_available", "payload_not_available", "availability", "availability_mode",
          "device", "origin", "entity_category", "enabled_by_default", "icon", "qos",
          "json_attributes_topic", "json_attributes_template", "encoding",
          "availability_template", "entity_picture"}
KEYS = {
    "sensor": COMMON | {"state_topic", "value_template", "device_class", "unit_of_measurement",
                        "state_class", "expire_after", "force_update", "last_reset_value_template",
                        "suggested_display_precision", "options"},
    "binary_sensor": COMMON | {"state_topic", "value_template", "device_class", "payload_on",
                               "payload_off", "expire_after", "force_update", "off_delay"},
    "switch": COMMON | {"state_topic", "command_topic", "command_template", "value_template",
                        "device_class", "payload_on", "payload_off", "state_on", "state_off",
                        "optimistic", "retain"},
}
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"},
            "switch": {"command_topic"}}
DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name",
               "serial_number", "hw_version", "sw_version", "suggested_area", "via_device",
               "configuration_url"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
UNITS = {
    "power": {"W", "kW", "MW", "GW", "TW", "mW", "BTU/h"},
    "energy": {"Wh", "kWh", "MWh", "GWh", "TWh", "mWh", "MJ", "GJ", "cal", "kcal", "Mcal", "Gcal"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
}
STATE_CLASSES = {"measurement", "total", "total_increasing", "measurement_angle"}
BINARY_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                  "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
                  "occupancy", "opening", "plug", "power", "presence", "problem", "running",
                  "safety", "smoke", "sound", "tamper", "update", "vibration", "window"}
SWITCH_CLASSES = {"outlet", "switch"}
TOPIC = re.compile(r"^(?P<prefix>[^/#+]+)/(?P<comp>[a-z_]+)/(?P<node>[a-zA-Z0-9_-]+)/"
                   r"(?P<obj>[a-zA-Z0-9_-]+)/config$")


def main():
    prefix, logf = sys.argv[1], sys.argv[2]
    last = {}
    for line in open(logf, encoding="utf-8"):
        topic, _, payload = line.rstrip("\n").partition(" ")
        last[topic] = payload
    errors = []
    seen_uid = set()
    configs = {t: p for t, p in last.items() if t.startswith(prefix + "/") and t.endswith("/config")}
    comps = {}
    for topic, payload in sorted(configs.items()):
        def bad(msg):
            errors.append(f"{topic}: {msg}")
        m = TOPIC.match(topic)
        if not m:
            bad("topic is not <prefix>/<component>/<node_id>/<object_id>/config")
            continue
        comp = m["comp"]
        comps[comp] = comps.get(comp, 0) + 1
        if comp not in KEYS:
            bad(f"component {comp} not checked here")
            continue
        try:
            c = json.loads(payload)
        except ValueError as e:
            bad(f"not JSON: {e}")
            continue
        if not isinstance(c, dict):
            bad("not an object")
            continue
        for k in REQUIRED[comp] - c.keys():
            bad(f"required key {k} missing")
        for k in c.keys() - KEYS[comp]:
            bad(f"unknown key {k} (dropped by Home Assistant)")
        uid = c.get("unique_id")
        if not uid:
            bad("no unique_id: not editable, not in a device")
        elif uid in seen_uid:
            bad(f"unique_id {uid} used twice")
        seen_uid.add(uid)
        dev = c.get("device", {})
        if not dev.get("identifiers") and not dev.get("connections"):
            bad("device without identifiers")
        for k in dev.keys() - DEVICE_KEYS:
            bad(f"unknown device key {k}: Home Assistant drops the whole config")
        for k in c.get("origin", {}).keys() - ORIGIN_KEYS:
            bad(f"unknown origin key {k}: Home Assistant drops the whole config")
        if "origin" in c and "name" not in c["origin"]:
            bad("origin without name")
        for t in ("state_topic", "command_topic", "availability_topic", "json_attributes_topic"):
            if t in c and (not c[t] or "+" in c[t] or "#" in c[t]):
                bad(f"{t} is empty or has a wildcard")
        dc = c.get("device_class")
        if comp == "sensor":
            sc = c.get("state_class")
            unit = c.get("unit_of_measurement")
            if sc is not None and sc not in STATE_CLASSES:
                bad(f"state_class {sc} unknown")
            if dc in UNITS and unit not in UNITS[dc]:
                bad(f"unit {unit!r} is not a unit of device_class {dc}")
            if dc == "energy" and sc not in ("total", "total_increasing"):
                bad("energy needs state_class total or total_increasing (energy dashboard)")
            if dc is not None and dc not in UNITS and dc not in ("timestamp", "enum"):
                bad(f"device_class {dc} not expected here")
            if c.get("entity_category") == "config":
                bad("entity_category config is refused for sensors")
        elif comp == "binary_sensor" and dc is not None and dc not in BINARY_CLASSES:
            bad(f"binary_sensor device_class {dc} unknown")
        elif comp == "switch" and dc is not None and dc not in SWITCH_CLASSES:
            bad(f"switch device_class {dc} unknown")
        # the entity shows a value: its state topic carries one
        st = c.get("state_topic")
        if st:
            if st not in last:
                bad(f"nothing published on state_topic {st}")
            else:
                vt = c.get("value_template", "")
                for key in re.findall(r"value_json\.([a-zA-Z0-9_]+)", vt):
                    try:
                        v = json.loads(last[st])
                    except ValueError:
                        bad(f"value_template reads JSON but {st} is not JSON")
                        break
                    if key not in v:
                        bad(f"value_template key {key} not in {st}")
                if not vt and comp in ("switch", "binary_sensor") and \
                        last[st] not in (c.get("payload_on", "ON"), c.get("payload_off", "OFF"),
                                         c.get("state_on", "ON"), c.get("state_off", "OFF")):
                    bad(f"state {last[st]!r} on {st} matches neither on nor off")
        at = c.get("availability_topic")
        if at and last.get(at) != c.get("payload_available", "online"):
            bad(f"availability topic {at} does not say {c.get('payload_available', 'online')}")
    for e in errors:
        print("# " + e)
    print("# " + ", ".join(f"{n} {k}" for k, n in sorted(comps.items())) + f": {len(configs)} configs")
    sys.exit(1 if errors or not configs else 0)


if __name__ == "__main__":
    main()
