#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""check.py TOP INSTALL_ROOT BUILD: check meta-phloem without bitbake, TAP.

A small reader of the BitBake syntax the layer uses (assignments with
= ?= ??= := += .= and :append, line continuations, require, shell
functions) is enough to check what would otherwise only fail inside a
Yocto build:
  - layer.conf: compatible with current releases, BBFILES find the recipes;
  - every recipe's require resolves, its SRC_URI file:// entries exist, its
    LIC_FILES_CHKSUM md5s match the files, its LICENSE texts are in LICENSES/;
  - the module recipe uses targets the top Makefile has, and autoloads a
    module Kbuild builds and `make install` installs under lib/modules/*/extra;
  - the agent recipe inherits systemd and pkgconfig, DEPENDS on its
    libraries, RRECOMMENDS the module package, and its do_install, run for
    real with a merged-/usr layout, produces exactly the tree (paths and
    modes) that `make install DESTDIR=... PREFIX=/usr` produced (INSTALL_ROOT,
    from check-install), modules aside;
  - the linux-raspberrypi bbappend ships every overlay in dts-overlays/.
"""
import glob
import hashlib
import os
import re
import stat
import subprocess
import sys
import tempfile

TOP, ROOT, BUILD = sys.argv[1:4]
LAYER = os.path.join(TOP, 'meta-phloem')

n = 0
failed = 0


def result(ok, what, why=()):
    global n, failed
    n += 1
    print(f'{"ok" if ok else "not ok"} {n} - {what}')
    if not ok:
        failed += 1
        for w in why:
            for line in str(w).splitlines():
                print(f'#   {line}')


ASSIGN = re.compile(r'^(?:export\s+)?([A-Za-z0-9_\-.:${}/+\[\]]+?)\s*'
                    r'(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*"(.*)"\s*$', re.S)


def parse(path, vars=None, funcs=None, seen=None):
    """Variables and shell functions of a .bb/.inc/.conf, following require."""
    vars = {} if vars is None else vars
    funcs = {} if funcs is None else funcs
    text = open(path, encoding='utf-8').read()
    lines = text.split('\n')
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r'^([\w:\-${}]+)\s*\(\)\s*\{\s*$', line)
        if m:
            body = []
            i += 1
            while i < len(lines) and lines[i] != '}':
                body.append(lines[i])
                i += 1
            funcs[m.group(1)] = '\n'.join(body)
            i += 1
            continue
        while line.endswith('\\') and i + 1 < len(lines):
            i += 1
            line = line[:-1] + ' ' + lines[i].strip()
        i += 1
        s = line.strip()
        if not s or s.startswith('#'):
            continue
        m = re.match(r'^(require|include)\s+(\S+)$', s)
        if m:
            for base in [os.path.dirname(path), LAYER]:
                cand = os.path.join(base, m.group(2))
                if os.path.exists(cand):
                    parse(cand, vars, funcs)
                    break
            else:
                if m.group(1) == 'require':
                    vars.setdefault('__missing_require', []).append(m.group(2))
            continue
        m = re.match(r'^inherit\s+(.*)$', s)
        if m:
            vars['__inherit'] = vars.get('__inherit', '') + ' ' + m.group(1)
            continue
        m = ASSIGN.match(s)
        if not m:
            continue
        name, op, val = m.groups()
        if name.endswith(':append') or name.endswith(':prepend'):
            base = name.rsplit(':', 1)[0]
            vars[base] = (vars.get(base, '') + val) if name.endswith(':append') \
                else (val + vars.get(base, ''))
        elif op in ('?=', '??='):
            vars.setdefault(name, val)
        elif op in ('+=', '=+'):
            vars[name] = (vars.get(name, '') + ' ' + val) if op == '+=' else (val + ' ' + vars.get(name, ''))
        elif op in ('.=', '=.'):
            vars[name] = (vars.get(name, '') + val) if op == '.=' else (val + vars.get(name, ''))
        else:
            vars[name] = val
    return vars, funcs


def words(v):
    return v.split() if v else []


def file_uris(v):
    out = []
    for w in words(v):
        if w.startswith('file://'):
            path, _, params = w[len('file://'):].partition(';')
            out.append((path, dict(p.split('=', 1) for p in params.split(';') if '=' in p)))
    return out


def md5_of(path, params):
    data = open(path, 'rb').read()
    if 'beginline' in params or 'endline' in params:
        ls = data.split(b'\n')
        b = int(params.get('beginline', 1)) - 1
        e = int(params.get('endline', len(ls)))
        data = b'\n'.join(ls[b:e]) + b'\n'
    return hashlib.md5(data).hexdigest()


def tree(root, skip=()):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            if any(rel.startswith(s) for s in skip):
                continue
            out[rel] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


# ---- layer.conf --------------------------------------------------------------
conf, _ = parse(os.path.join(LAYER, 'conf', 'layer.conf'))
compat = words(conf.get('LAYERSERIES_COMPAT_phloem'))
want = ['kirkstone', 'scarthgap', 'styhead', 'walnascar']
result(all(r in compat for r in want),
       f'layer.conf LAYERSERIES_COMPAT_phloem covers {" ".join(want)}',
       [f'has: {" ".join(compat)}'])
patterns = [p.replace('${LAYERDIR}', LAYER) for p in words(conf.get('BBFILES'))]
recipes = sorted(glob.glob(os.path.join(LAYER, 'recipes-*', '*', '*.bb')))
matched = {f for p in patterns for f in glob.glob(p)}
result(recipes and all(r in matched for r in recipes),
       f'BBFILES finds the {len(recipes)} recipes',
       [os.path.relpath(r, LAYER) for r in recipes if r not in matched] or ['no recipes'])
dyn = [w.split(':', 1) for w in words(conf.get('BBFILES_DYNAMIC'))]
appends = sorted(glob.glob(os.path.join(LAYER, 'dynamic-layers', '*', '*', '*', '*.bbappend')))
dmatched = {f for _, p in dyn for f in glob.glob(p.replace('${LAYERDIR}', LAYER))}
result(all(a in dmatched for a in appends),
       f'BBFILES_DYNAMIC finds the {len(appends)} bbappends of other layers',
       [os.path.relpath(a, LAYER) for a in appends if a not in dmatched])

# ---- every recipe: require, SRC_URI, licences ---------------------------------
LICENSE_TEXTS = {'GPL-2.0-only': 'LICENSES/preferred/GPL-2.0',
                 'GPL-2.0-or-later': 'LICENSES/preferred/GPL-2.0',
                 'MIT': 'LICENSES/preferred/MIT',
                 'BSD-2-Clause': 'LICENSES/preferred/BSD-2-Clause'}
parsed = {}
for r in recipes + appends:
    name = os.path.relpath(r, LAYER)
    v, f = parse(r)
    parsed[name] = (v, f)
    result('__missing_require' not in v, f'{name}: require resolves',
           v.get('__missing_require', []))

    rdir = os.path.dirname(r)
    bpn = re.sub(r'_.*$', '', os.path.basename(r))
    search = [os.path.join(rdir, d) for d in (bpn, 'files')]
    for extra in words(v.get('FILESEXTRAPATHS', '').replace(':', ' ')):
        search.insert(0, extra.replace('${THISDIR}', rdir))
    uris = file_uris(v.get('SRC_URI'))
    missing = [p for p, _ in uris if not any(os.path.exists(os.path.join(d, p)) for d in search)]
    result(not missing, f'{name}: SRC_URI file:// entries exist ({len(uris)})', missing)

    if r.endswith('.bb'):
        lics = file_uris(v.get('LIC_FILES_CHKSUM'))
        bad = []
        for p, params in lics:
            full = os.path.join(TOP, p)
            if not os.path.exists(full):
                bad.append(f'{p}: missing')
            elif 'md5' not in params:
                bad.append(f'{p}: no md5')
            elif md5_of(full, params) != params['md5']:
                bad.append(f'{p}: md5 is {md5_of(full, params)}, recipe says {params["md5"]}')
        result(lics and not bad, f'{name}: LIC_FILES_CHKSUM md5s match ({len(lics)} files)',
               bad or ['no LIC_FILES_CHKSUM'])
        lic = re.findall(r'[A-Za-z0-9.+-]+', v.get('LICENSE', ''))
        unknown = [l for l in lic if l not in LICENSE_TEXTS or
                   not os.path.exists(os.path.join(TOP, LICENSE_TEXTS[l]))]
        result(lic and not unknown, f'{name}: LICENSE {v.get("LICENSE")} has its text in LICENSES/',
               unknown or ['no LICENSE'])

# ---- the module recipe --------------------------------------------------------
mod = 'recipes-kernel/phloem-module/phloem-module_git.bb'
if mod in parsed:
    v, _ = parsed[mod]
    result('module' in words(v.get('__inherit')), f'{mod}: inherits module')
    targets = words(v.get('MAKE_TARGETS')) + words(v.get('MODULES_INSTALL_TARGET'))
    bad = []
    for t in targets:
        r = subprocess.run(['make', '-n', '-C', TOP, t, 'DESTDIR=/nonexistent'],
                           capture_output=True, text=True)
        if r.returncode:
            bad.append(f'{t}: {r.stderr.strip()}')
    result(targets and not bad, f'{mod}: top Makefile has {" ".join(targets)}', bad)
    kbuild = ' '.join(open(p, encoding='utf-8').read()
                      for p in glob.glob(os.path.join(TOP, 'kernel', '**', 'Kbuild'), recursive=True))
    built = set(re.findall(r'obj-m\s*\+?=\s*([\w-]+)\.o', kbuild))
    auto = words(v.get('KERNEL_MODULE_AUTOLOAD'))
    result(auto and all(a in built for a in auto),
           f'{mod}: KERNEL_MODULE_AUTOLOAD ({" ".join(auto)}) is built by Kbuild',
           [f'Kbuild builds: {" ".join(sorted(built))}'])
    rp = words(v.get('RPROVIDES:${PN}'))
    inst = [p for p in tree(ROOT) if re.match(r'lib/modules/[^/]+/extra/.*\.ko$', p)]
    names = {'kernel-module-' + os.path.basename(p)[:-3].replace('_', '-') for p in inst}
    result('kernel-module-phloem' in names and 'kernel-module-phloem' in rp,
           f'{mod}: make install puts phloem.ko under lib/modules/<kver>/extra '
           '(package kernel-module-phloem)',
           [f'installed: {" ".join(inst) or "none"}'])

# ---- the agent recipe -----------------------------------------------------------
agent = 'recipes-core/phloem-agent/phloem-agent_git.bb'
if agent in parsed:
    v, funcs = parsed[agent]
    inh = words(v.get('__inherit'))
    result('systemd' in inh and 'pkgconfig' in inh, f'{agent}: inherits systemd pkgconfig',
           [f'inherits: {" ".join(inh)}'])
    deps = words(v.get('DEPENDS'))
    need = ['libnl', 'libsodium', 'libmodbus', 'libbpf', 'sqlite3', 'libinih']
    result(all(d in deps for d in need), f'{agent}: DEPENDS on {" ".join(need)}',
           [f'DEPENDS: {" ".join(deps)}'])
    # MQTT and web: headers at build time, the dlopen()ed libraries at run time
    pc = words(v.get('PACKAGECONFIG'))
    result(all(d in deps for d in ('mosquitto', 'libmicrohttpd')) and
           'mqtt' in pc and 'libmosquitto1' in v.get('PACKAGECONFIG[mqtt]', '') and
           'web' in pc and 'libmicrohttpd' in v.get('PACKAGECONFIG[web]', ''),
           f'{agent}: builds against mosquitto and libmicrohttpd, runs with them (PACKAGECONFIG mqtt web)',
           [f'DEPENDS: {" ".join(deps)}', f'PACKAGECONFIG: {" ".join(pc)}'])
    rr = words(v.get('RRECOMMENDS:${PN}'))
    result('kernel-module-phloem' in rr, f'{agent}: RRECOMMENDS kernel-module-phloem')

    # Every library phloemd is built against (mk/phloemd.mk's pkg-config
    # list, read, not copied) is a DEPENDS, by its OE recipe's name.
    recipe_of = {'libnl-genl-3.0': 'libnl', 'json-c': 'json-c', 'libsystemd': 'systemd',
                 'sqlite3': 'sqlite3', 'inih': 'libinih', 'libmodbus': 'libmodbus',
                 'libsodium': 'libsodium'}
    with open(os.path.join(TOP, 'mk/phloemd.mk')) as f:
        m = re.search(r'^PD_PKGS\s*:=\s*(.*)$', f.read(), re.M)
    pkgs = m.group(1).split() if m else []
    missing = [p for p in pkgs if recipe_of.get(p, '?') not in deps]
    result(pkgs and not missing, f'{agent}: DEPENDS covers phloemd\'s pkg-config '
           f'libraries ({" ".join(pkgs)})', [f'missing: {" ".join(missing)}'])
    # libmodbus at run time: phloemd loads it with dlopen() (mblib.h), so no
    # shlibs dependency is generated from phloemd: the recipe must say it.
    rd = words(v.get('RDEPENDS:${PN}'))
    pd = os.path.join(BUILD, 'agent/phloemd')
    try:
        dyn = subprocess.run(['readelf', '-d', pd], capture_output=True, text=True).stdout
    except OSError as e:
        dyn = str(e)
    needed = re.findall(r'\(NEEDED\).*\[(.*)\]', dyn)
    result('libmodbus' in rd and 'NEEDED' in dyn and
           not any(n.startswith('libmodbus.so') for n in needed),
           f'{agent}: RDEPENDS libmodbus, which phloemd loads with dlopen() (no DT_NEEDED)',
           [f'RDEPENDS: {" ".join(rd)}', f'{pd} needs: {" ".join(needed) or dyn[:200]}'])

    # do_install for real, with a merged-/usr layout (what PREFIX=/usr gives).
    layout = {'prefix': '/usr', 'exec_prefix': '/usr', 'bindir': '/usr/bin',
              'sbindir': '/usr/sbin', 'libdir': '/usr/lib', 'datadir': '/usr/share',
              'mandir': '/usr/share/man', 'sysconfdir': '/etc',
              'base_libdir': '/usr/lib', 'nonarch_base_libdir': '/usr/lib',
              'nonarch_libdir': '/usr/lib', 'systemd_unitdir': '/usr/lib/systemd',
              'systemd_system_unitdir': '/usr/lib/systemd/system'}
    body = funcs.get('do_install')
    if body is None:
        result(False, f'{agent}: has do_install')
    else:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, D=d, S=TOP, B=BUILD, **layout)
            r = subprocess.run(['bash', '-e', '-c', body], env=env,
                               capture_output=True, text=True)
            result(r.returncode == 0, f'{agent}: do_install runs', [r.stderr])
            got = tree(d)
        ref = tree(ROOT, skip=('lib/modules/',))
        diff = [f'only in do_install: /{p}' for p in sorted(set(got) - set(ref))]
        diff += [f'only in make install: /{p}' for p in sorted(set(ref) - set(got))]
        diff += [f'/{p}: mode {got[p]:o} vs make install {ref[p]:o}'
                 for p in sorted(set(got) & set(ref)) if got[p] != ref[p]]
        result(ref and not diff,
               f'{agent}: do_install gives the tree of make install ({len(ref)} files, modes)',
               diff or ['make install tree is empty'])
        units = words(v.get('SYSTEMD_SERVICE:${PN}'))
        result(units and all(os.path.exists(os.path.join(ROOT, 'usr/lib/systemd/system', u))
                             for u in units),
               f'{agent}: SYSTEMD_SERVICE ({" ".join(units)}) is installed')
        conffiles = [c.replace('${sysconfdir}', '/etc') for c in words(v.get('CONFFILES:${PN}'))]
        result(conffiles and all(os.path.exists(ROOT + c) for c in conffiles),
               f'{agent}: CONFFILES ({" ".join(conffiles)}) are installed')

# ---- overlays into the Raspberry Pi kernel ---------------------------------------
for a in appends:
    name = os.path.relpath(a, LAYER)
    v, _ = parsed[name]
    listed = {os.path.basename(p) for p, _ in file_uris(v.get('SRC_URI'))}
    have = {os.path.basename(p) for p in glob.glob(os.path.join(TOP, 'dts-overlays', '*.dts*'))}
    ovl = set(words(v.get('PHLOEM_OVERLAYS')))
    want_ovl = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(TOP, 'dts-overlays', '*.dtso'))}
    result(listed == have and ovl == want_ovl,
           f'{name}: ships every file of dts-overlays/ and builds every overlay',
           [f'SRC_URI: {" ".join(sorted(listed))}', f'dts-overlays: {" ".join(sorted(have))}',
            f'PHLOEM_OVERLAYS: {" ".join(sorted(ovl))}'])

print(f'1..{n}')
sys.exit(1 if failed else 0)
