#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""docs/netlink/phloem.yaml against uapi/linux/phloem.h: every attribute set
has exactly the header's enum entries, in order; every attribute has a doc;
nested sets exist; operations match enum phloem_cmd; the family and group
names match. TAP on stdout."""
import re
import sys

import yaml

top = sys.argv[1]
hdr = open(f"{top}/uapi/linux/phloem.h").read()
spec = yaml.safe_load(open(f"{top}/docs/netlink/phloem.yaml"))
n = 0
bad = 0


def tap(ok, name):
    global n, bad
    n += 1
    bad += not ok
    print(("ok" if ok else "not ok") + f" {n} - {name}")


def enum_entries(prefix):
    """Entries of the header enum whose entries all start with prefix."""
    for body in re.findall(r"enum \w+ \{(.*?)\};", hdr, re.S):
        names = re.findall(r"^\s*(\w+)", body, re.M)
        names = [x for x in names if not x.startswith("__")]
        if names and all(x.startswith(prefix) for x in names) and \
           names[0] == prefix + "UNSPEC":
            # the top-level set shares its prefix with the nested ones
            return names
    return None


def define(name):
    m = re.search(rf"#define {name}\s+(\S+)", hdr)
    return m.group(1).strip('"') if m else None


tap(spec["name"] == define("PHLOEM_GENL_NAME"), "family name matches PHLOEM_GENL_NAME")
tap([g["name"] for g in spec["mcast-groups"]["list"]] == [define("PHLOEM_GENL_MCGRP_EVENTS")],
    "multicast group matches PHLOEM_GENL_MCGRP_EVENTS")
sets = {s["name"]: s for s in spec["attribute-sets"]}
for s in spec["attribute-sets"]:
    prefix = s["name-prefix"].upper().replace("-", "_")
    want = enum_entries(prefix)
    if s["name"] == "phloem":
        want = [x for x in re.findall(r"^\s*(PHLOEM_A_\w+)", re.search(
            r"enum phloem_attr \{(.*?)\};", hdr, re.S).group(1), re.M)]
    got = [prefix + a["name"].upper().replace("-", "_") for a in s["attributes"]]
    tap(want is not None and got == want,
        f"set {s['name']}: attributes match the header enum" +
        ("" if got == want else f" (spec {got} header {want})"))
    tap(all(a.get("doc") for a in s["attributes"]), f"set {s['name']}: every attribute has a doc")
    nests = [a for a in s["attributes"] if a["type"] == "nest"]
    tap(all(a.get("nested-attributes") in sets for a in nests),
        f"set {s['name']}: nested attribute sets exist")
cmds = re.findall(r"^\s*(PHLOEM_CMD_\w+)", re.search(r"enum phloem_cmd \{(.*?)\};", hdr, re.S).group(1), re.M)
cmds = [c for c in cmds if not c.startswith("__")]
ops = ["PHLOEM_CMD_" + o["name"].upper().replace("-", "_") for o in spec["operations"]["list"]]
tap(ops == cmds, "operations match enum phloem_cmd")
for o in spec["operations"]["list"]:
    for kind in ("do", "dump", "event"):
        part = o.get(kind)
        if not part:
            continue
        for sub in ("request", "reply"):
            attrs = (part.get(sub) or {}).get("attributes", []) if kind != "event" else part.get("attributes", [])
            names = {a["name"] for a in sets[o["attribute-set"]]["attributes"]}
            if not all(a in names for a in attrs):
                tap(False, f"operation {o['name']} {kind} names unknown attributes")
                break
tap(True, "operation attribute lists name existing attributes")
print(f"1..{n}")
sys.exit(1 if bad else 0)
