#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""hub.py [--loss PCT] [--delay-ms MS] [--stats FILE] PORT...

A lossy, reordering Ethernet hub between interfaces, for kernels without
sch_netem (tests/netns/lib.sh uses netem when it is there). Like a switch it
learns which port each source MAC is behind: a frame for a learnt unicast
MAC goes to that port only, anything else (multicast, broadcast, a MAC not
seen yet) is offered to every other port; each copy is dropped
with probability PCT/100, independently (as netem on each egress would),
and otherwise sent after a uniform random delay in [0, MS): frames sent
close together overtake each other, which is the reordering. (Flooding every unicast frame to
49 ports, as a plain hub would, made this Python process the bottleneck of a
50-node bench: its queueing delays, not the 10% loss, timed SWIM out.)

Runs in the bridge namespace, with the ports taken off the bridge. The
stats file is rewritten each second with forwarded/dropped counts and is
created once every port is open (lib.sh waits for it).
"""
import argparse
import heapq
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def fix_udp(frame):
    """A veth hands AF_PACKET its frames before the UDP checksum is filled
    in (checksum offload: the kernel would complete it on the way out of a
    real NIC), and a frame sent back through AF_PACKET is taken as it is:
    without this the receiver drops every UDP datagram as corrupt. So the
    hub computes the checksum itself (RFC 768 / RFC 8200 8.1)."""
    if len(frame) < 14:
        return frame
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800 and len(frame) >= 34 and frame[23] == 17:
        ihl = (frame[14] & 15) * 4
        u = 14 + ihl
        ulen = struct.unpack("!H", frame[u + 4:u + 6])[0]
        if ulen < 8 or u + ulen > len(frame):
            return frame
        pseudo = frame[26:34] + struct.pack("!BBH", 0, 17, ulen)
    elif et == 0x86DD and len(frame) >= 62 and frame[20] == 17:
        u = 54
        ulen = struct.unpack("!H", frame[u + 4:u + 6])[0]
        if ulen < 8 or u + ulen > len(frame):
            return frame
        pseudo = frame[22:54] + struct.pack("!IxxxB", ulen, 17)
    else:
        return frame
    seg = bytearray(frame[u:u + ulen])
    seg[6:8] = b"\0\0"
    c = csum(pseudo + bytes(seg)) or 0xFFFF
    return frame[:u + 6] + struct.pack("!H", c) + frame[u + 8:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--stats")
    ap.add_argument("ports", nargs="+")
    a = ap.parse_args()
    if not 0 <= a.loss <= 100 or a.delay_ms < 0:
        sys.exit("hub.py: --loss must be 0..100 and --delay-ms >= 0")

    socks = {}
    for p in a.ports:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((p, 0))
        s.setblocking(False)
        socks[s.fileno()] = (p, s)
    poll = select.poll()
    for fd in socks:
        poll.register(fd, select.POLLIN)

    fwd = drop = 0
    queue = []          # (due, seq, socket, frame)
    seq = 0
    last_stats = 0.0
    rnd = random.Random()
    where = {}          # source MAC -> fd of the port it was seen on

    def stats():
        if a.stats:
            tmp = a.stats + ".tmp"
            with open(tmp, "w") as f:
                f.write("forwarded %d\ndropped %d\nqueued %d\n" % (fwd, drop, len(queue)))
            os.replace(tmp, a.stats)

    stats()
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, s, frame = heapq.heappop(queue)
            try:
                s.send(frame)
            except OSError:
                pass    # a port whose node was torn down: the frame is lost
        timeout = 1000 if not queue else max(0, (queue[0][0] - now) * 1000)
        for fd, _ in poll.poll(min(timeout, 1000)):
            name, s = socks[fd]
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                except OSError:
                    break
                # our own transmissions come back as PACKET_OUTGOING
                if addr[2] == PACKET_OUTGOING:
                    continue
                if len(frame) < 14:
                    continue
                if not frame[6] & 1:
                    where[frame[6:12]] = fd
                frame = fix_udp(frame)
                now = time.monotonic()
                dst = where.get(frame[0:6]) if not frame[0] & 1 else None
                for ofd, (oname, o) in socks.items():
                    if ofd == fd or (dst is not None and ofd != dst):
                        continue
                    if rnd.random() * 100 < a.loss:
                        drop += 1
                        continue
                    fwd += 1
                    seq += 1
                    due = now + rnd.random() * a.delay_ms / 1000
                    heapq.heappush(queue, (due, seq, o, frame))
        if time.monotonic() - last_stats >= 1:
            last_stats = time.monotonic()
            stats()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
