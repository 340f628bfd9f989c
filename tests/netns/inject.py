#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""inject.py: datagrams an attacker on the link can send, crafted from
docs/protocol.md, for tests/netns/netns.sh. No keys are needed: each one
must be refused before any secret matters.

  capture IFACE PORT OUTFILE SECONDS   write the first sealed datagram that
                                       arrives for PORT on IFACE (AF_PACKET)
  replay ADDR PORT FILE                send it again, unchanged
  truncated ADDR PORT K_TO K_FROM EPOCH_TO   a sealed header cut short
  forged ADDR PORT K_TO K_FROM EPOCH_TO      well addressed, garbage tag
  stale ADDR PORT K_TO K_FROM EPOCH_TO       addressed to an earlier run
Keys are in their text form ("phl1" + base32 of key and checksum).
"""
import base64
import os
import socket
import struct
import sys
import time

ETH_P_ALL = 3
PACKET_OUTGOING = 4


def raw(t):
    b = t[4:].upper()
    return base64.b32decode(b + "=" * (-len(b) % 8))[:32]


def sealed_hdr(k_from, k_to, ep, pep, ctr):
    # version 1, type 2 (sealed), two reserved bytes, sender, receiver,
    # sender's epoch, receiver's epoch as the sender knows it, counter
    return bytes([1, 2, 0, 0]) + raw(k_from) + raw(k_to) + struct.pack("<QQQ", ep, pep, ctr)


def udp_payload(pkt, proto, port):
    if proto == 0x0800 and len(pkt) >= 20 and pkt[9] == 17:
        ihl = (pkt[0] & 15) * 4
        u = pkt[ihl:]
    elif proto == 0x86DD and len(pkt) >= 40 and pkt[6] == 17:
        u = pkt[40:]
    else:
        return None
    if len(u) < 8 or struct.unpack("!H", u[2:4])[0] != port:
        return None
    return u[8:]


def capture(iface, port, out, secs):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.5)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            pkt, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        p = udp_payload(pkt, addr[1], port)
        if p and len(p) > 100 and p[0] == 1 and p[1] == 2:
            with open(out, "wb") as f:
                f.write(p)
            return 0
    return 1


def send(addr, port, dg):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.sendto(dg, (addr, port))


def main(a):
    kind = a[0]
    if kind == "capture":
        return capture(a[1], int(a[2]), a[3], float(a[4]))
    addr, port = a[1], int(a[2])
    if kind == "replay":
        with open(a[3], "rb") as f:
            send(addr, port, f.read())
        return 0
    k_to, k_from, ep_to = a[3], a[4], int(a[5])
    if kind == "truncated":
        dg = sealed_hdr(k_from, k_to, 2**62, ep_to, 5)[:40]
    elif kind == "forged":
        # a "restart" of k_from with the right addressing: only the tag
        # can tell, and the tag is random
        dg = sealed_hdr(k_from, k_to, 2**62, ep_to, 5) + os.urandom(40)
    elif kind == "stale":
        dg = sealed_hdr(k_from, k_to, 2**62, 1, 5) + os.urandom(40)
    else:
        sys.exit("inject.py: unknown kind " + kind)
    send(addr, port, dg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
