#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""props.py: the driver, the binding and the overlays agree, as TAP lines.

  props.py --tap-start N --top TOP --cpp-include DIR --dtc-flags FLAGS
           --out DIR MERGED.dtb...

What the driver reads is taken from its source (kernel/*.c), not from a
list kept here: string literals passed to device_property_*() and
fwnode_property_*(), or to a local helper that hands one of its parameters
to those; gpiod_get*(dev, "x") reads "x-gpios"; an iio_channel_get*() call
reads "io-channels"; fwnode name matches give the child node names. Then:
  - each is documented in docs/bindings/phloem,hat.yaml;
  - each phloem,* property the binding documents is read by the driver
    (no documentation of what does not exist);
  - each is present in every merged overlay's /phloem subtree (the overlays
    are complete examples), and nothing there is undocumented;
  - the binding's examples compile (wrapped as dt-schema does).
"""
import argparse
import glob
import os
import re
import subprocess
import sys

import yaml

PROP_RE = re.compile(r'^[a-z#][a-z0-9,#.-]*$')
STANDARD = {'compatible', '#address-cells', '#size-cells', 'phandle',
            'status', 'pinctrl-names', 'pinctrl-0'}


def strip_comments(src):
    src = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), src, flags=re.S)
    return re.sub(r'//[^\n]*', '', src)


def call_args(src, start):
    """Text of the arguments of the call whose '(' is at src[start]."""
    depth = 0
    for i in range(start, len(src)):
        if src[i] == '(':
            depth += 1
        elif src[i] == ')':
            depth -= 1
            if depth == 0:
                return src[start + 1:i]
    return ''


def split_args(args):
    out, depth, cur, quote = [], 0, '', False
    for ch in args:
        if ch == '"':
            quote = not quote
        if not quote:
            if ch in '([{':
                depth += 1
            elif ch in ')]}':
                depth -= 1
            elif ch == ',' and depth == 0:
                out.append(cur.strip())
                cur = ''
                continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def literal(arg):
    m = re.fullmatch(r'"([^"]*)"', arg.strip())
    return m.group(1) if m else None


def driver_reads(files):
    props, nodes = {}, set()
    srcs = {f: strip_comments(open(f, encoding='utf-8').read()) for f in files}

    # Helpers that pass a `const char *` parameter on to *_property_*().
    wrappers = {}
    fdef = re.compile(r'^\w[\w \t\*]*?\b(\w+)\s*\(([^;{)]*)\)\s*\{(.*?)^\}', re.S | re.M)
    for src in srcs.values():
        for m in fdef.finditer(src):
            name, params, body = m.group(1), split_args(m.group(2)), m.group(3)
            passed = set()
            for c in re.finditer(r'_property_\w+\s*\(', body):
                passed |= set(split_args(call_args(body, c.end() - 1)))
            for idx, p in enumerate(params):
                pm = re.fullmatch(r'const\s+char\s*\*\s*(\w+)', p)
                if pm and pm.group(1) in passed:
                    wrappers[name] = idx

    direct = re.compile(r'\b((?:device|fwnode)_property_\w+|%s)\s*\(' %
                        '|'.join(map(re.escape, wrappers)) if wrappers else
                        r'\b((?:device|fwnode)_property_\w+)\s*\(')
    for f, src in srcs.items():
        where = os.path.basename(f)
        for m in direct.finditer(src):
            args = split_args(call_args(src, m.end() - 1))
            if m.group(1) in wrappers:
                cand = [args[wrappers[m.group(1)]]] if len(args) > wrappers[m.group(1)] else []
            else:
                cand = args
            for a in cand:
                v = literal(a)
                if v and PROP_RE.match(v):
                    props.setdefault(v, where)
                    break
        for m in re.finditer(r'\b\w*gpiod_get\w*\s*\(', src):
            args = split_args(call_args(src, m.end() - 1))
            v = literal(args[1]) if len(args) > 1 else None
            if v:
                props.setdefault(v + '-gpios', where)
        if re.search(r'\b\w*iio_channel_get\w*\s*\(', src):
            props.setdefault('io-channels', where)
        for m in re.finditer(r'\b\w*name_eq\w*\s*\(', src):
            args = split_args(call_args(src, m.end() - 1))
            v = literal(args[-1]) if args else None
            if v:
                nodes.add(v)
    return props, nodes


def binding_props(doc):
    """Every property name the binding documents, and the node patterns."""
    names = set(doc.get('properties', {}))
    patterns = {}
    for pat, sub in doc.get('patternProperties', {}).items():
        patterns[pat] = set(sub.get('properties', {}))
        names |= patterns[pat]
    return names, patterns


def fdt(*args):
    r = subprocess.run(['fdtget', *args], capture_output=True, text=True)
    return r.stdout.split() if r.returncode == 0 else None


def overlay_props(dtb, node='/phloem'):
    found = set(fdt('-p', dtb, node) or [])
    for child in fdt('-l', dtb, node) or []:
        found |= set(fdt('-p', dtb, f'{node}/{child}') or [])
    return found, set(fdt('-l', dtb, node) or [])


class Tap:
    def __init__(self, n):
        self.n, self.failed = n, 0

    def result(self, ok, what, why=()):
        print(f'{"ok" if ok else "not ok"} {self.n} - {what}')
        if not ok:
            self.failed += 1
            for w in why:
                print(f'#   {w}')
        self.n += 1


def compile_example(i, text, args):
    src = os.path.join(args.out, f'binding-example-{i}.dts')
    # What dt-schema's dt_binding_check does: a plugin, so that the example's
    # references to controllers it does not define become fixups.
    with open(src, 'w', encoding='utf-8') as f:
        f.write('/dts-v1/;\n/plugin/;\n')
        body = [l for l in text.splitlines() if l.startswith('#include')]
        rest = [l for l in text.splitlines() if not l.startswith('#include')]
        f.write('\n'.join(body) + '\n')
        f.write('/ {\n\tcompatible = "foo";\n\tmodel = "foo";\n'
                '\t#address-cells = <1>;\n\t#size-cells = <1>;\n')
        f.write('\n'.join(rest) + '\n};\n')
    pp = src + '.pp'
    r = subprocess.run(['cpp', '-nostdinc', '-undef', '-x', 'assembler-with-cpp',
                        '-D__DTS__', '-I', args.cpp_include, src, '-o', pp],
                       capture_output=True, text=True)
    if r.returncode:
        return False, r.stderr
    r = subprocess.run(['dtc', '-@', *args.dtc_flags.split(), '-I', 'dts', '-O', 'dtb',
                        '-o', src[:-4] + '.dtb', pp], capture_output=True, text=True)
    return r.returncode == 0 and not r.stderr.strip(), r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tap-start', type=int, default=1)
    ap.add_argument('--top', required=True)
    ap.add_argument('--cpp-include', required=True)
    ap.add_argument('--dtc-flags', default='')
    ap.add_argument('--out', required=True)
    ap.add_argument('merged', nargs='*')
    args = ap.parse_args()
    tap = Tap(args.tap_start)

    files = sorted(glob.glob(os.path.join(args.top, 'kernel', '*.c')))
    props, nodes = driver_reads(files)
    tap.result(len(props) >= 10 and nodes,
               f'driver property reads found in kernel/*.c: {len(props)} properties, '
               f'child nodes {", ".join(sorted(nodes)) or "none"}',
               [f'found only: {", ".join(sorted(props))}'])

    binding = os.path.join(args.top, 'docs', 'bindings', 'phloem,hat.yaml')
    with open(binding, encoding='utf-8') as f:
        doc = yaml.safe_load(f)
    documented, patterns = binding_props(doc)

    missing = sorted(p for p in props if p not in documented)
    tap.result(not missing, 'every property the driver reads is documented in the binding',
               [f'{p} (read in {props[p]})' for p in missing])

    unread = sorted(p for p in documented
                    if p.startswith('phloem,') and p not in props)
    tap.result(not unread, 'every phloem,* property the binding documents is read by the driver',
               unread)

    bad_nodes = sorted(n for n in nodes
                       if not any(re.fullmatch(pat, f'{n}@0') for pat in patterns))
    tap.result(not bad_nodes, 'child nodes the driver walks are binding patternProperties',
               bad_nodes)

    for m in args.merged:
        name = os.path.basename(m).replace('.merged.dtb', '')
        found, kids = overlay_props(m)
        absent = sorted(p for p in props if p not in found)
        tap.result(not absent, f'{name}: sets every property the driver reads',
                   absent)
        extra = sorted(p for p in found if p not in documented and p not in STANDARD)
        tap.result(not extra, f'{name}: sets no property the binding does not document',
                   extra)
        nokids = sorted(n for n in nodes if not any(k.startswith(n + '@') for k in kids))
        tap.result(not nokids, f'{name}: has each kind of child node the driver walks',
                   nokids)

    examples = doc.get('examples', [])
    if not examples:
        tap.result(False, 'binding has an example')
    for i, text in enumerate(examples):
        ok, err = compile_example(i, text, args)
        tap.result(ok, f'binding example {i} compiles with no warning', err.splitlines())
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
