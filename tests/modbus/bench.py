#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""bench-modbus: how fast a step in the site's power reaches the battery, and
how steady the kernel lease stays while a device times out.

1. step -> setpoint: phloemd (sim backend, sample_ms 100) controls a battery
   simulator (sunspec_sim.py, model 124) for peak shaving at 1000 W. A load
   of 3000 W is switched on and off on the site circuit ([sim] device_power,
   a file the bench writes); the time from that write to the first setpoint
   register write arriving at the simulator (its writes file, both
   CLOCK_MONOTONIC) is one sample. Target: median <= 200 ms (OpenEMS runs a
   1 s cycle). The path includes the sim's 50 ms coupling poll, which a real
   meter does not have.
2. lease jitter: lease_s = 3 (renewal every 1000 ms) while a second device
   answers slower than its timeout the whole time. Each renewal's time is
   recovered exactly from status (now - (lease - left)); jitter is the
   distance of each interval from 1000 ms (a renewal is dated from status
   calls answered within 30 ms, to +-15 ms). Target: the lease never lapses
   (left > 0 at every poll), worst jitter <= 100 ms.

usage: bench.py PHLOEMD PHLOEMCTL [STEPS]
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PHLOEMD, PHLOEMCTL = sys.argv[1], sys.argv[2]
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 20


def port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(pred, t=15):
    end = time.monotonic() + t
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


def status(env):
    out = subprocess.run([PHLOEMCTL, 'status', '--json'], env=env, capture_output=True,
                         text=True, timeout=5).stdout
    return json.loads(out)


def main():
    T = tempfile.mkdtemp(prefix='phloem-mbbench.')
    procs = []
    env = dict(os.environ, PHLOEMD_SOCKET=T + '/sock')
    pb, ps = port(), port()

    def sim(name, *args):
        d = os.path.join(T, name)
        os.makedirs(d)
        log = open(os.path.join(d, 'log'), 'w')
        procs.append(subprocess.Popen(['/usr/bin/python3', HERE + '/sunspec_sim.py', *args,
                                       '--dir', d], stdout=log, stderr=log))
        wait(lambda: os.path.exists(os.path.join(d, 'ready')))
        return d

    def ctl(d, obj):
        with open(d + '/control.json.tmp', 'w') as f:
            json.dump(obj, f)
        os.rename(d + '/control.json.tmp', d + '/control.json')

    bat = sim('batt', 'battery', '--tcp', str(pb))
    ctl(bat, {'soc_pct': 80})
    slow = sim('slow', 'meter', '--tcp', str(ps))
    ctl(slow, {'mode': 'slow', 'delay_s': 3})
    os.makedirs(T + '/load')
    load = T + '/load/power'
    with open(load, 'w') as f:
        f.write('0\n')
    with open(T + '/pd.conf', 'w') as f:
        f.write(f"""[agent]
backend = sim
socket = {T}/sock
lease_s = 3
sample_ms = 100
user =
group = nogroup
[history]
db = {T}/h.db
[site]
peak_shaving_target_w = 1000
[circuit site]
channel = i0
breaker_a = 63
sim_base_a = 2
[sim]
device_power = site {bat}/power
device_power = site {load}
[device batt]
url = tcp://127.0.0.1:{pb}
poll_ms = 1000
control = yes
[device slow]
url = tcp://127.0.0.1:{ps}
poll_ms = 200
timeout_ms = 1000
""")
    pdlog = open(T + '/pd.log', 'w')
    pd = subprocess.Popen([PHLOEMD, '-c', T + '/pd.conf'], stdout=pdlog, stderr=pdlog)
    procs.append(pd)
    rows = []
    failed = False
    try:
        def online():
            return [x for x in status(env)['devices'] if x['name'] == 'batt'][0]['state'] == 'online'
        if not wait(online):
            print('bench-modbus: the battery simulator never came online')
            return 1
        time.sleep(1.5)
        wfile = bat + '/writes'
        lat = []
        renew = set()
        lapsed = 0

        def lease_sample(renew, lease_ms=3000):
            """the time of the last renewal, from the lease left now; 1
            when the lease had lapsed"""
            t0 = time.monotonic_ns()
            left = status(env)['lease_left_ms']
            t1 = time.monotonic_ns()
            # the daemon answered somewhere in [t0, t1]: only a quick
            # answer dates the renewal to within 15 ms
            if t1 - t0 < 30e6:
                renew.add(round(((t0 + t1) / 2e6 - (lease_ms - left)) / 5) * 5)
            return 1 if left <= 0 else 0
        for i in range(STEPS):
            seen = os.path.getsize(wfile) if os.path.exists(wfile) else 0
            t0 = time.monotonic_ns()
            tmp = load + '.tmp'
            with open(tmp, 'w') as f:
                f.write('%d\n' % (-3000 if i % 2 == 0 else 0))
            os.rename(tmp, load)
            t_arrive = None
            end = time.monotonic() + 3
            while time.monotonic() < end and t_arrive is None:
                if os.path.exists(wfile) and os.path.getsize(wfile) > seen:
                    with open(wfile) as f:
                        f.seek(seen)
                        line = f.readline()
                    if line.endswith('\n'):
                        t_arrive = int(line.split()[0])
                        break
                # the lease, meanwhile (the slow device times out all along)
                lapsed += lease_sample(renew)
                time.sleep(0.02)
            if t_arrive is None:
                lat.append(None)
            else:
                lat.append((t_arrive - t0) / 1e6)
            # let the loop settle and the lease renew a few times
            t_end = time.monotonic() + 1.5
            while time.monotonic() < t_end:
                lapsed += lease_sample(renew)
                time.sleep(0.05)
        got = [x for x in lat if x is not None]
        # renewals: cluster estimates within 30 ms (poll rounding)
        rs = sorted(renew)
        cl = []
        for r in rs:
            if cl and r - cl[-1][-1] <= 30:
                cl[-1].append(r)
            else:
                cl.append([r])
        times = [statistics.median(c) for c in cl]
        iv = [b - a for a, b in zip(times, times[1:]) if b - a < 2500]
        jit = [abs(x - 1000) for x in iv]
        slow_state = [x for x in status(env)['devices'] if x['name'] == 'slow'][0]['state']
        print('bench-modbus: %d steps, %d renewals seen, slow device %s' % (STEPS, len(times), slow_state))
        print('%-44s %6s %9s %9s %9s  %s' % ('what', 'runs', 'median', 'worst', 'target', ''))
        if got:
            med, worst = statistics.median(got), max(got)
            miss = med > 200 or len(got) < len(lat)
            print('%-44s %6d %7.1f ms %7.1f ms %9s  %s' % (
                'site power step -> battery setpoint write', len(got), med, worst,
                '<=200 ms', 'MISSED' if miss else 'ok'))
            failed |= miss
            if len(got) < len(lat):
                print('  %d steps got no write within 3 s' % (len(lat) - len(got)))
        else:
            print('site power step -> setpoint: no write arrived: MISSED')
            failed = True
        if jit:
            med, worst = statistics.median(jit), max(jit)
            miss = worst > 100 or lapsed > 0
            print('%-44s %6d %7.1f ms %7.1f ms %9s  %s' % (
                'lease renewal jitter, a device timing out', len(jit), med, worst,
                '<=100 ms', 'MISSED' if miss else 'ok'))
            print('%-44s %6s %9d %9s %9s  %s' % ('polls that found the lease lapsed', '', lapsed, '',
                                                 '0', 'MISSED' if lapsed else 'ok'))
            failed |= miss
            if miss:
                print('  renewal intervals off by > 100 ms: %s' % ', '.join(
                    '%.0f' % x for x in iv if abs(x - 1000) > 100))
        else:
            print('lease renewal jitter: no renewals seen: MISSED')
            failed = True
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if not os.environ.get('KEEP'):
            subprocess.run(['rm', '-rf', T])
    return 1 if failed else 0


sys.exit(main())
