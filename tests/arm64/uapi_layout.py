#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""uapi_layout.py TOP OUTDIR: the UAPI structs have one layout everywhere.

Records read from /dev/phloemN, ioctl arguments and netlink binary
attributes cross from kernel to userspace, and a 32-bit userspace may run
on a 64-bit kernel. So every struct in uapi/linux/phloem.h must have the
same size, alignment and member offsets on x86_64, i386 (where a __u64 in a
struct is only 4-byte aligned), arm64 and 32-bit ARM. Nothing is run: each
value is compiled into the size of a symbol (char NAME[value + 1]) and read
back with readelf, which reads any architecture's objects.

Prints TAP lines from --tap-start (default 1); exit 1 on a difference.
"""
import os
import re
import subprocess
import sys

TOP, OUT = sys.argv[1], sys.argv[2]
start = int(sys.argv[3]) if len(sys.argv) > 3 else 1
HDR = os.path.join(TOP, 'uapi', 'linux', 'phloem.h')

# name, compiler command; i386 through clang: Debian's i386 multilib
# conflicts with the cross compilers, and the x86 uapi types headers are
# the same for both widths.
TARGETS = [
    ('x86_64', ['gcc']),
    ('i386', ['clang', '--target=i686-linux-gnu', '-I/usr/include/x86_64-linux-gnu']),
    ('arm64', ['aarch64-linux-gnu-gcc']),
    ('arm', ['arm-linux-gnueabihf-gcc']),
]


def structs(src):
    """{struct: [member, ...]}, members of anonymous unions/structs included."""
    src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
    src = re.sub(r'//[^\n]*', ' ', src)
    out = {}
    for m in re.finditer(r'^struct (\w+) \{', src, re.M):
        name, i, depth, body = m.group(1), m.end(), 1, ''
        while depth and i < len(src):
            c = src[i]
            depth += c == '{'
            depth -= c == '}'
            body += c
            i += 1
        members, level, stmt = [], 0, ''
        for c in body[:-1]:
            if c == '{':
                level += 1
                stmt = ''
            elif c == '}':
                level -= 1
                stmt = ''
            elif c == ';':
                d = re.search(r'(\w+)\s*(\[[^\]]*\])*\s*(:\s*\d+)?\s*$', stmt)
                if d and not d.group(3) and stmt.strip():
                    members.append(d.group(1))
                stmt = ''
            else:
                stmt += c
        out[name] = members
    return out


def main():
    found = structs(open(HDR, encoding='utf-8').read())
    os.makedirs(OUT, exist_ok=True)
    csrc = os.path.join(OUT, 'uapi_layout.c')
    with open(csrc, 'w', encoding='utf-8') as f:
        f.write('#include <stddef.h>\n#include <linux/phloem.h>\n')
        for s, members in found.items():
            f.write(f'char L__{s}__SIZE[sizeof(struct {s}) + 1];\n')
            f.write(f'char L__{s}__ALIGN[_Alignof(struct {s}) + 1];\n')
            for mb in members:
                f.write(f'char L__{s}__{mb}[offsetof(struct {s}, {mb}) + 1];\n')
    n = start
    layouts, failed = {}, 0
    for arch, cc in TARGETS:
        obj = os.path.join(OUT, f'uapi_layout.{arch}.o')
        r = subprocess.run(cc + ['-fno-common', '-I', os.path.join(TOP, 'uapi'),
                                 '-c', csrc, '-o', obj], capture_output=True, text=True)
        if r.returncode:
            print(f'not ok {n} - uapi/linux/phloem.h compiles for {arch}')
            print('\n'.join('#   ' + l for l in r.stderr.splitlines()[:15]))
            failed += 1
            n += 1
            continue
        syms = subprocess.run(['readelf', '-sW', obj], capture_output=True, text=True).stdout
        layouts[arch] = {m.group(2): int(m.group(1)) - 1 for m in
                         re.finditer(r'^\s*\d+:\s+\w+\s+(\d+)\s+OBJECT\s+GLOBAL\s+\S+\s+\S+\s+L__(\S+)$',
                                     syms, re.M)}
        nvals = len(layouts[arch])
        ok = nvals == sum(len(v) + 2 for v in found.values())
        print(f'{"ok" if ok else "not ok"} {n} - uapi/linux/phloem.h compiles for {arch} '
              f'({len(found)} structs, {nvals} sizes and offsets)')
        failed += not ok
        n += 1
    ref = layouts.get('x86_64')
    for arch in [a for a, _ in TARGETS if a != 'x86_64' and a in layouts]:
        # Sizes and offsets are the ABI. Alignment alone is not (i386 aligns
        # __u64 to 4): it matters only through an embedding struct's offsets
        # or an array's stride, both of which are compared. Shown, not failed.
        diff = sorted(k for k in ref or {} if not k.endswith('__ALIGN')
                      and layouts[arch].get(k) != ref[k]) if ref else ['no x86_64']
        print(f'{"ok" if not diff else "not ok"} {n} - UAPI sizes and offsets on {arch} '
              'are those of x86_64')
        align = [k[:-len('__ALIGN')] for k in sorted(ref or {})
                 if k.endswith('__ALIGN') and layouts[arch].get(k) != ref[k]]
        if align:
            print(f'#   alignment differs (benign): {", ".join(align)}')
        for k in diff[:20]:
            s, _, what = k.partition('__')
            print(f'#   struct {s} {what.lower() if what in ("SIZE", "ALIGN") else "offsetof " + what}: '
                  f'x86_64 {ref[k]}, {arch} {layouts[arch].get(k)}')
        failed += bool(diff)
        n += 1
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
