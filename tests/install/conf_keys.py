#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""conf_keys.py CONFIG_C CONF: check that CONF uses only the sections and
keys that phloemd's parser (CONFIG_C) accepts.

The parser is the authority; rather than keep a second list here, read the
lists out of its own error messages: every `case SEC_<KIND>:` ends with
`BAD("unknown key (k1, k2, ...)")`. Exit 1 with one line per problem."""
import re
import sys


def parser_keys(src):
    keys = {}
    kind = None
    for line in src.splitlines():
        m = re.search(r'case SEC_([A-Z]+):', line)
        if m:
            kind = m.group(1).lower()
        m = re.search(r'unknown key \(([^)]*)\)', line)
        if m and kind:
            keys[kind] = {k.strip() for k in m.group(1).split(',')}
            kind = None
    return keys


def main():
    src = open(sys.argv[1], encoding='utf-8').read()
    known = parser_keys(src)
    if not known:
        print(f'{sys.argv[1]}: no "unknown key (...)" lists found')
        return 1
    problems = []
    kind = None
    with open(sys.argv[2], encoding='utf-8') as conf:
        for n, line in enumerate(conf, 1):
            line = line.strip()
            if not line or line[0] in '#;':
                continue
            if line.startswith('['):
                kind = line.strip('[]').split()[0]
                if kind not in known:
                    problems.append(f'{n}: unknown section [{kind}]')
                continue
            key = line.split('=', 1)[0].strip()
            if kind in known and key not in known[kind]:
                problems.append(f'{n}: [{kind}] unknown key {key} '
                                f'(parser knows: {", ".join(sorted(known[kind]))})')
    for p in problems:
        print(f'{sys.argv[2]}:{p}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
