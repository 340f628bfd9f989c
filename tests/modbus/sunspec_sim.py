#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A SunSpec device on Modbus TCP or RTU (pymodbus): inverter, battery, meter.

The register map is built from the SunSpec JSON models in models/ (the
layout of github.com/sunspec/models), not from phloem's tables, so a test
checks phloem against the specification, not against itself.

usage: sunspec_sim.py KIND (--tcp PORT | --rtu TTY) --dir DIR [--base N]
                      [--models 1,103,...] [--unit N]
KIND: inverter (1 103 120 123), battery (1 103 124 802), meter (1 203),
      der (1 701 704: an inverter with the 700-series models)

DIR is the device's test directory:
  DIR/control.json   read at every request when it changed: behaviour and
                     the physical world ({"mode": "normal" | "slow" |
                     "exception" | "garbage", "delay_s": 2, "pv_avail_w":
                     4000, "soc_pct": 50, "soc_raw": 2500, "clamp_rate_pct":
                     50, "meter_w": -1234.5, "sf": {"W_SF": -2}})
  DIR/power          written: the device's AC power in W (+ into the site),
                     what phloemd's sim backend puts on the wires
  DIR/writes         appended: "MONOTONIC_NS ADDR V1 V2 ..." per write
  DIR/ready          written once the server listens
"""
import argparse
import asyncio
import json
import os
import threading
import time

from pymodbus.datastore import ModbusServerContext
from pymodbus.interfaces import IModbusSlaveContext
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

HERE = os.path.dirname(os.path.abspath(__file__))
NOT_IMPL = {'int16': 0x8000, 'sunssf': 0x8000, 'pad': 0x8000, 'uint16': 0xFFFF,
            'enum16': 0xFFFF, 'bitfield16': 0xFFFF, 'count': 0, 'acc32': 0,
            'uint32': 0xFFFFFFFF, 'int32': 0x80000000, 'bitfield32': 0xFFFFFFFF,
            'enum32': 0xFFFFFFFF, 'uint64': 0xFFFFFFFFFFFFFFFF, 'acc64': 0,
            'string': 0, 'ipaddr': 0, 'ipv6addr': 0, 'eui48': 0, 'float32': 0x7FC00000}


class Model:
    """One model's registers, laid out from its JSON definition."""

    def __init__(self, mid):
        with open(os.path.join(HERE, 'models', 'model_%d.json' % mid)) as f:
            j = json.load(f)
        self.id = mid
        self.pts = {}
        self.regs = []
        self._lay(j['group'])
        self.regs[0] = mid
        self.regs[1] = len(self.regs) - 2

    def _lay(self, g):
        for p in g.get('points', []):
            size = p.get('size', 1)
            self.pts[p['name']] = (len(self.regs), p['type'], size)
            v = NOT_IMPL.get(p['type'], 0)
            for i in range(size):
                self.regs.append((v >> (16 * (size - 1 - i))) & 0xFFFF
                                 if p['type'] != 'string' else 0)
        for sg in g.get('groups', []):
            if sg.get('count', 1) == 1:
                self._lay(sg)

    def put(self, name, raw):
        off, typ, size = self.pts[name]
        if typ == 'string':
            b = raw.encode().ljust(2 * size, b'\0')[:2 * size]
            for i in range(size):
                self.regs[off + i] = b[2 * i] << 8 | b[2 * i + 1]
            return
        raw = int(raw) & ((1 << (16 * size)) - 1)
        for i in range(size):
            self.regs[off + i] = (raw >> (16 * (size - 1 - i))) & 0xFFFF

    def get(self, name, signed=False):
        off, typ, size = self.pts[name]
        v = 0
        for i in range(size):
            v = v << 16 | self.regs[off + i]
        if signed and v >> (16 * size - 1):
            v -= 1 << (16 * size)
        return v

    def set_scaled(self, name, value, sf_name, sf):
        self.put(sf_name, sf & 0xFFFF)
        self.put(name, round(value / 10 ** sf))


class Device:
    def __init__(self, kind, base, dirname, models):
        self.kind = kind
        self.base = base
        self.dir = dirname
        self.lock = threading.Lock()
        self.ctl = {}
        self.ctl_mtime = 0
        self.soc = 50.0
        self.t = time.monotonic()
        self.models = [Model(m) for m in models]
        self.m = {m.id: m for m in self.models}
        c = self.m[1]
        c.put('Mn', 'phloem-test')
        c.put('Md', 'sim-' + kind)
        c.put('SN', 'SIM%05d' % (os.getpid() % 100000))
        c.put('Vr', '1.0')
        c.put('DA', 1)
        self.rating = 5000
        self.pv_avail = 0
        self.setup()
        self.layout()

    # ---- the map ----
    def layout(self):
        regs = [0x5375, 0x6e53]
        self.addr = {}
        for m in self.models:
            self.addr[m.id] = self.base + len(regs)
            regs += m.regs
        regs += [0xFFFF, 0]
        self.regs = regs

    def sync_out(self):
        """models -> image"""
        for m in self.models:
            a = self.addr[m.id] - self.base
            self.regs[a:a + len(m.regs)] = m.regs

    def sync_in(self, addr, values):
        """a write -> the model it falls in"""
        for m in self.models:
            a = self.addr[m.id]
            if a <= addr < a + len(m.regs):
                for i, v in enumerate(values):
                    if addr - a + i < len(m.regs):
                        m.regs[addr - a + i] = v

    def setup(self):
        sf = self.ctl.get('sf', {})
        for mid in (101, 102, 103):
            if mid in self.m:
                inv = self.m[mid]
                inv.put('W_SF', sf.get('W_SF', 0) & 0xFFFF)
                inv.put('Hz_SF', (-2) & 0xFFFF)
                inv.put('Hz', 5000)
                inv.put('V_SF', (-1) & 0xFFFF)
                inv.put('PhVphA', 2300)
                inv.put('WH_SF', 0)
                inv.put('WH', 123456)
                inv.put('St', 4)
        if 120 in self.m:
            self.m[120].set_scaled('WRtg', self.rating, 'WRtg_SF', 1)
        if 123 in self.m:
            m = self.m[123]
            m.put('WMaxLimPct_SF', 0)
            m.put('WMaxLimPct', 100)
            m.put('WMaxLim_Ena', 0)
            m.put('OutPFSet_SF', (-3) & 0xFFFF)
        if 124 in self.m:
            m = self.m[124]
            m.put('WChaMax_SF', 0)
            m.put('WChaMax', 3000)
            m.put('WChaDisChaGra_SF', 0)
            m.put('ChaState_SF', (-2) & 0xFFFF)
            m.put('MinRsvPct_SF', 0)
            m.put('MinRsvPct', 10)
            m.put('InOutWRte_SF', (-1) & 0xFFFF)
            m.put('StorCtl_Mod', 0)
            m.put('InWRte', 0)
            m.put('OutWRte', 0)
        if 802 in self.m:
            m = self.m[802]
            m.put('WHRtg_SF', 1)
            m.put('WHRtg', 1000)
            m.put('WChaDisChaMax_SF', 0)
            m.put('WChaRteMax', 3000)
            m.put('WDisChaRteMax', 3000)
            m.put('SoC_SF', (-1) & 0xFFFF)
        for mid in (201, 203):
            if mid in self.m:
                m = self.m[mid]
                m.put('W_SF', sf.get('W_SF', 0) & 0xFFFF)
                m.put('V_SF', (-1) & 0xFFFF)
                m.put('Hz_SF', (-2) & 0xFFFF)
                m.put('Hz', 5000)
                m.put('PhV', 2300)
                m.put('PhVphA', 2300)
                m.put('TotWh_SF', 0)
                m.put('TotWhImp', 1000)
                # TotWhExp stays 0: "not implemented"
        if 701 in self.m:
            m = self.m[701]
            m.put('W_SF', 0)
            m.put('V_SF', (-1) & 0xFFFF)
            m.put('Hz_SF', (-3) & 0xFFFF)
            m.put('Hz', 50000)
            m.put('LNV', 2300)
            m.put('TotWh_SF', 0)
            m.put('TotWhInj', 777)
        if 704 in self.m:
            m = self.m[704]
            m.put('WMaxLimPct_SF', 0)
            m.put('WMaxLimPct', 100)
            m.put('WMaxLimPctEna', 0)
            m.put('WSet_SF', 0)

    # ---- physics, on every request ----
    def control(self):
        p = os.path.join(self.dir, 'control.json')
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return
        if st.st_mtime_ns == self.ctl_mtime:
            return
        self.ctl_mtime = st.st_mtime_ns
        try:
            with open(p) as f:
                self.ctl = json.load(f)
        except ValueError:
            return
        if 'soc_pct' in self.ctl:
            self.soc = float(self.ctl['soc_pct'])
        self.pv_avail = float(self.ctl.get('pv_avail_w', self.pv_avail))
        sf = self.ctl.get('sf', {})
        for mid in (101, 102, 103, 201, 203):
            if mid in self.m and 'W_SF' in sf:
                self.m[mid].put('W_SF', sf['W_SF'] & 0xFFFF)

    def battery_w(self):
        """the setpoint the battery follows (+ discharge)"""
        if 704 in self.m and self.m[704].get('WSetEna') == 1:
            return self.m[704].get('WSet', signed=True) * 10 ** self._sf(704, 'WSet_SF')
        m = self.m.get(124)
        if not m:
            return 0
        mode = m.get('StorCtl_Mod')
        sf = 10 ** self._sf(124, 'InOutWRte_SF')
        wmax = m.get('WChaMax')
        if mode & 2:
            return m.get('OutWRte', signed=True) * sf / 100 * wmax
        if mode & 1:
            return -m.get('InWRte', signed=True) * sf / 100 * wmax
        return 0

    def _sf(self, mid, name):
        v = self.m[mid].get(name, signed=True)
        return 0 if v == -32768 else v

    def step(self):
        now = time.monotonic()
        dt = now - self.t
        self.t = now
        w = 0.0
        if self.kind == 'battery':
            w = self.battery_w()
            if (w > 0 and self.soc <= 0) or (w < 0 and self.soc >= 100):
                w = 0
            # 1 kWh for the tests: a second is 1/3600 of an hour
            self.soc = min(100.0, max(0.0, self.soc - w * dt / 3600 / 10))
            if 124 in self.m:
                raw = self.ctl.get('soc_raw', round(self.soc * 100))
                self.m[124].put('ChaState', raw)
            if 802 in self.m:
                self.m[802].put('SoC', self.ctl.get('soc_raw', round(self.soc * 10)))
                self.m[802].put('W', round(w))
        elif self.kind in ('inverter', 'der'):
            lim = 100.0
            if 123 in self.m and self.m[123].get('WMaxLim_Ena') == 1:
                lim = self.m[123].get('WMaxLimPct') * 10 ** self._sf(123, 'WMaxLimPct_SF')
            if 704 in self.m and self.m[704].get('WMaxLimPctEna') == 1:
                lim = self.m[704].get('WMaxLimPct') * 10 ** self._sf(704, 'WMaxLimPct_SF')
            w = min(self.pv_avail, self.rating * lim / 100)
        elif self.kind == 'meter':
            w = float(self.ctl.get('meter_w', 0))
        for mid in (101, 102, 103):
            if mid in self.m:
                m = self.m[mid]
                m.put('W', round(w / 10 ** self._sf(mid, 'W_SF')))
                if self.kind == 'inverter':
                    m.put('DCW_SF', 0)
                    m.put('DCW', round(w))
        if 701 in self.m:
            self.m[701].put('W', round(w))
        for mid in (201, 203):
            if mid in self.m:
                self.m[mid].put('W', round(w / 10 ** self._sf(mid, 'W_SF')))
        self.sync_out()
        if self.kind != 'meter':
            tmp = os.path.join(self.dir, 'power.tmp')
            with open(tmp, 'w') as f:
                f.write('%d\n' % round(w))
            os.rename(tmp, os.path.join(self.dir, 'power'))

    def tick_forever(self):
        while True:
            with self.lock:
                self.control()
                self.step()
            time.sleep(0.02)


class Context(IModbusSlaveContext):
    def __init__(self, dev):
        self.dev = dev

    def reset(self):
        pass

    def _behave(self):
        d = self.dev
        mode = d.ctl.get('mode', 'normal')
        if mode == 'slow':
            time.sleep(float(d.ctl.get('delay_s', 2)))
        return mode

    def validate(self, fx, address, count=1):
        d = self.dev
        with d.lock:
            d.control()
        if self._behave() == 'exception':
            return False
        return d.base <= address and address + count <= d.base + len(d.regs)

    def getValues(self, fx, address, count=1):
        d = self.dev
        with d.lock:
            d.step()
            vals = d.regs[address - d.base:address - d.base + count]
            if d.ctl.get('mode') == 'garbage':
                vals = [0x1234 ^ (i * 7919) & 0xFFFF for i in range(count)]
            return list(vals)

    def setValues(self, fx, address, values):
        d = self.dev
        with d.lock:
            values = list(values)
            clamp = d.ctl.get('clamp_rate_pct')
            if clamp is not None and 124 in d.m:
                # a battery that keeps its own limit: takes the write, holds
                # its rate at clamp %
                a = d.addr[124]
                for i in range(len(values)):
                    if address + i in (a + 12, a + 13):
                        values[i] = min(values[i], int(clamp * 10))
            d.sync_in(address, values)
            d.step()
            with open(os.path.join(d.dir, 'writes'), 'a') as f:
                f.write('%d %d %s\n' % (time.monotonic_ns(), address,
                                        ' '.join(str(v) for v in values)))


KINDS = {'inverter': [1, 103, 120, 123], 'battery': [1, 103, 124, 802],
         'meter': [1, 203], 'der': [1, 701, 120, 704]}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('kind', choices=KINDS)
    ap.add_argument('--tcp', type=int)
    ap.add_argument('--rtu')
    ap.add_argument('--dir', required=True)
    ap.add_argument('--base', type=int, default=40000)
    ap.add_argument('--models')
    ap.add_argument('--unit', type=int, default=1)
    a = ap.parse_args()
    models = [int(x) for x in a.models.split(',')] if a.models else KINDS[a.kind]
    dev = Device(a.kind, a.base, a.dir, models)
    with dev.lock:
        dev.control()
        dev.setup()
        dev.step()
    threading.Thread(target=dev.tick_forever, daemon=True).start()
    ctx = ModbusServerContext(slaves={a.unit: Context(dev)}, single=False)
    with open(os.path.join(a.dir, 'ready'), 'w') as f:
        f.write('%d\n' % os.getpid())
    if a.tcp:
        await StartAsyncTcpServer(context=ctx, address=('127.0.0.1', a.tcp),
                                  framer=ModbusSocketFramer, allow_reuse_address=True)
    else:
        await StartAsyncSerialServer(context=ctx, framer=ModbusRtuFramer, port=a.rtu,
                                     baudrate=9600, timeout=0.1)


if __name__ == '__main__':
    asyncio.run(main())
