#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""conf_from_device.py DIR CONF DB: write DIR/CONF, a phloemd configuration
for the kernel backend generated from the device itself (DIR/ch.json and
DIR/re.json, the output of `phloemctl channels --json` and `relays --json`
read over netlink): names, breaker ratings, priorities, critical flags. The
VM tests and the demo use it so they follow whatever topology the HAT has."""
import json
import sys

d, conf, db = sys.argv[1:4]
ch = json.load(open(d + "/ch.json"))["channels"]
re = json.load(open(d + "/re.json"))["relays"]
with open(d + "/" + conf, "w") as f:
    f.write(f"[agent]\nbackend = kernel\nsocket = {d}/sock\nlease_s = 3\nuser =\n\n")
    f.write(f"[history]\ndb = {d}/{db}\n\n")
    for c in ch:
        if c["kind"] == "current" and c["circuit"]:
            f.write(f"[circuit {c['circuit']}]\nchannel = {c['name']}\n"
                    f"breaker_a = {c['rating_ma'] / 1000}\n\n")
    for r in re:
        f.write(f"[relay {r['name']}]\ncircuit = {r['circuit']}\npriority = {r['priority']}\n"
                f"critical = {'yes' if r['critical'] else 'no'}\n\n")
