#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""One raw Modbus TCP request, for what a well-behaved client would not send.

usage: mbraw.py PORT UNIT FC ADDR COUNT_OR_VALUE
Prints "exception N" (the server's exception code), "ok N" (registers or
the echo of a write) or "closed".
"""
import socket
import struct
import sys

port, unit, fc, addr, cnt = (int(x) for x in sys.argv[1:6])
s = socket.create_connection(('127.0.0.1', port), timeout=2)
pdu = struct.pack('>BHH', fc, addr, cnt)
s.sendall(struct.pack('>HHHB', 0x1234, 0, len(pdu) + 1, unit) + pdu)
try:
    r = s.recv(300)
except socket.timeout:
    r = b''
if len(r) < 9:
    print('closed')
elif r[7] & 0x80:
    print('exception %d' % r[8])
else:
    print('ok %d' % (r[8] // 2 if fc in (3, 4) else cnt))
