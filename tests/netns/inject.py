#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""inject.py: datagrams an attacker on the link can send, crafted from
docs/protocol.md, for tests/netns/netns.sh. No keys are needed: each one
must be refused before any secret matters.

  capture IFACE PORT OUTFILE SECONDS   write the first transport datagram that
                                       arrives for PORT on IFACE (AF_PACKET)
  replay ADDR PORT FILE                send it again, unchanged
  truncated ADDR PORT K_TO K_FROM EPOCH_TO   a transport header cut short
  forged ADDR PORT K_TO K_FROM EPOCH_TO      a handshake initiation from
                                       K_FROM to K_TO, garbage ephemeral and tag
  stale ADDR PORT K_TO K_FROM EPOCH_TO       transport for a session K_TO does
                                       not hold (an earlier run's)
(EPOCH_TO is no longer used: sessions come from handshakes.)
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


def transport_hdr(index, ctr):
    # version 1, type 5 (transport), two reserved bytes, the receiver's
    # session index, the counter
    return bytes([1, 5, 0, 0]) + struct.pack("<IQ", index, ctr)


def initiation(k_from, k_to):
    # version 1, type 3 (handshake initiation), two reserved bytes, sender,
    # receiver, ephemeral key, sealed sender index (4 + 16)
    return bytes([1, 3, 0, 0]) + raw(k_from) + raw(k_to) + os.urandom(32 + 20)


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
        if p and len(p) > 40 and p[0] == 1 and p[1] == 5:
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
    k_to, k_from = a[3], a[4]
    if kind == "truncated":
        dg = transport_hdr(1, 5)[:12]
    elif kind == "forged":
        # k_from is a member, so the receiver does the Diffie-Hellman:
        # only the tag can tell, and the tag is random
        dg = initiation(k_from, k_to)
    elif kind == "stale":
        dg = transport_hdr(struct.unpack("<I", os.urandom(4))[0] | 1, 5) + os.urandom(40)
    else:
        sys.exit("inject.py: unknown kind " + kind)
    send(addr, port, dg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
