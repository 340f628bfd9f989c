#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""poll.py [--since T] [--trace FILE] COND TIMEOUT SOCKET... | --hold COND SECONDS SOCKET...
| sum SOCKET... | snap FILE SOCKET... | kinds SNAP0 SNAP1: ask every phloemd for "peers" on its
control socket (the JSON-lines protocol of docs/phloemd.md) about every
50 ms until COND holds at each node, and print the seconds from start until
the slowest node first satisfied it ("timeout" and exit 1 if one never did),
then the seconds until the last node first answered at all.
With --trace FILE, every round also appends one line a node to FILE:
seconds, socket, peers alive, suspect, dead, members not listed, sessions
ready (what a slow discovery is waiting for).
With --since T (Unix time, as date +%s.%N prints it) seconds are counted
from T instead: the moment the caller made the change being timed, so that
starting this script is not left out of the figure.
A node that satisfied COND once counts as done: what is timed is when the
information arrived, not whether a later flap takes it away.

One process talks to all the sockets, so a round over 50 nodes takes a
few milliseconds; phloemctl per node would take seconds and blur the
figure being measured.

snap writes every node's per-kind transmit counters ("tx" of "peers") to
FILE; kinds reads "NODE B/S SOCKET" lines on stdin (the link rate of each
node over the time between two snaps) and prints, per kind, what the mean
node and the worst node sent a second over that time.

COND:
  alive            every other node alive (N-1 peers in state "alive")
  live             every other node alive or suspect (none dead): SWIM
                   suspects before it fails, and a lossy link makes it do so
  counted          all N measurements counted in the community net power
  heard:KEY:W      the node holds a measurement of KEY (its own if it is
                   KEY) with net_w < W: the change of one member's load has
                   arrived (community_net_w alone would also fall when a
                   measurement expires)
"""
import json
import socket
import sys
import time


def ask(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b'{"cmd": "peers"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            c = s.recv(65536)
            if not c:
                break
            buf += c
        return json.loads(buf)
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def holds(cond, d, n):
    if not d or not d.get("ok", True):
        return False
    if cond == "alive":
        return sum(p["state"] == "alive" for p in d.get("peers", [])) == n - 1
    if cond == "live":
        return sum(p["state"] in ("alive", "suspect") for p in d.get("peers", [])) == n - 1
    if cond == "counted":
        return d.get("community_counted") == n
    if cond.startswith("heard:"):
        _, key, w = cond.split(":")
        if d.get("key") == key:
            return d.get("net_w", 1 << 62) < int(w)
        return any(p["key"] == key and "net_w" in p and p["net_w"] < int(w)
                   for p in d.get("peers", []))
    raise SystemExit("poll.py: unknown condition " + cond)


def hold(cond, secs, socks):
    """--hold: COND must hold at every node at every round for SECS."""
    n = len(socks)
    t0 = time.monotonic()
    rounds = 0
    while time.monotonic() - t0 < secs:
        for s in socks:
            if not holds(cond, ask(s), n):
                print("broken at %s after %.1f s" % (s, time.monotonic() - t0))
                return 1
        rounds += 1
        time.sleep(0.2)
    print("%.1f (held over %d rounds)" % (secs, rounds))
    return 0


def total(socks):
    """sum: what every node counted so far, summed (the counters of
    "peers" that say where a slow discovery spent its datagrams)"""
    t = {}
    for s in socks:
        d = ask(s) or {}
        for k in ("announces_rx", "announces_known", "announces_tx", "rx_datagrams", "tx_datagrams"):
            t[k] = t.get(k, 0) + d.get(k, 0)
        for g in ("sessions", "drops"):
            for k, v in d.get(g, {}).items():
                t[g + "." + k] = t.get(g + "." + k, 0) + v
    print(" ".join("%s=%d" % kv for kv in sorted(t.items()) if kv[1]))
    return 0


def snap(path, socks):
    """snap: every node's "tx" counters, by socket"""
    t = {s: (ask(s) or {}).get("tx", {}) for s in socks}
    with open(path, "w") as f:
        json.dump({"at": time.monotonic(), "tx": t}, f)
    return 0


def kinds(snap0, snap1):
    """kinds: what the worst node (by link rate) sends that the mean one
    does not, in B/s of UDP payload (and datagrams/s) per kind"""
    a, b = (json.load(open(p)) for p in (snap0, snap1))
    secs = max(b["at"] - a["at"], 0.001)
    rows = [l.split() for l in sys.stdin if l.strip()]
    if not rows:
        return 0
    worst = max(rows, key=lambda r: int(r[1]))

    def rate(sock, kind, what):
        return (b["tx"].get(sock, {}).get(kind, {}).get(what, 0) -
                a["tx"].get(sock, {}).get(kind, {}).get(what, 0)) / secs
    names = sorted({k for t in b["tx"].values() for k in t})
    out = []
    for k in names:
        mean = sum(rate(r[2], k, "bytes") for r in rows) / len(rows)
        mean_d = sum(rate(r[2], k, "datagrams") for r in rows) / len(rows)
        out.append("%s %.0f/%.0f B/s (%.1f/%.1f dg/s)" % (
            k, mean, rate(worst[2], k, "bytes"), mean_d, rate(worst[2], k, "datagrams")))
    print("  tx by kind, mean/worst node (gw%s, %s B/s on its link): %s" %
          (worst[0], worst[1], "; ".join(out)))
    return 0


def main():
    if sys.argv[1] == "snap":
        return snap(sys.argv[2], sys.argv[3:])
    if sys.argv[1] == "kinds":
        return kinds(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "sum":
        return total(sys.argv[2:])
    if sys.argv[1] == "--hold":
        return hold(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    args = sys.argv[1:]
    since = trace = None
    while args[0] in ("--since", "--trace"):
        if args[0] == "--since":
            since = float(args[1])
        else:
            trace = open(args[1], "a")
        args = args[2:]
    cond, timeout, socks = args[0], float(args[1]), args[2:]
    n = len(socks)
    holds(cond, {"peers": []}, n)       # an unknown COND fails here
    t0 = time.monotonic()
    if since is not None:
        t0 -= max(0.0, time.time() - since)
    done = {}
    up = {}
    while time.monotonic() - t0 < timeout:
        for s in socks:
            if s in done:
                continue
            d = ask(s)
            if d is not None and s not in up:
                up[s] = time.monotonic() - t0
            if trace and d is not None:
                st = [p["state"] for p in d.get("peers", [])]
                trace.write("%.2f %s %d %d %d %d %d\n" % (
                    time.monotonic() - t0, s, st.count("alive"),
                    st.count("suspect"), st.count("dead"),
                    n - 1 - len(st) + st.count("untrusted"),
                    d.get("sessions", {}).get("ready", -1)))
            if holds(cond, d, n):
                done[s] = time.monotonic() - t0
        if len(done) == n:
            # then when the last node first answered on its socket: the
            # part of the figure that is starting processes, not protocol
            print("%.2f %.2f" % (max(done.values()), max(up.get(s, 0) for s in socks)))
            return 0
        time.sleep(0.05)
    print("timeout (%d of %d)" % (len(done), n))
    return 1


if __name__ == "__main__":
    sys.exit(main())
