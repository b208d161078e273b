#!/usr/bin/env python3
"""Lists cycles between the source files (modules) of each crate: file A uses an item of file B
(`use crate::..`, `use super::..`, or a `crate::`/`super::` path in code) and B uses A.
Usage: scripts/module-cycles.py [crate src dirs...]; exits 1 if a cycle is found."""
import os, re, sys

def modules(src):
    """Maps module path (tuple) -> file, for a crate's src dir."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] in ('lib', 'main', 'mod'):
                rel = rel[:-1]
            out[tuple(rel)] = os.path.join(root, f)
    return out

def strip_tests(text):
    """Drops `#[cfg(test)] mod tests { .. }` blocks (test code may use anything)."""
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+\w+\s*\{', text)
    return text[:m.start()] if m else text

def deps(mod, text, mods):
    found = set()
    text = re.sub(r'//.*', '', strip_tests(text))
    # `use` trees: expand `{a, b::c}` one level.
    for m in re.finditer(r'\b(crate|super)((?:::\w+)+)(::\{([^}]*)\})?', text):
        head, path, _, group = m.groups()
        base = list(mod) if head == 'super' else []
        if head == 'super':
            base = base[:-1]
            # `super::super::x`
            parts = path.strip(':').split('::')
            while parts and parts[0] == 'super':
                base = base[:-1]; parts = parts[1:]
        else:
            parts = path.strip(':').split('::')
        tails = [p.strip().split('::') for p in group.split(',')] if group else [[]]
        for t in tails:
            full = base + parts + [x for x in t if x and x != 'self']
            # the longest prefix that is a module
            for k in range(len(full), -1, -1):
                if tuple(full[:k]) in mods:
                    target = tuple(full[:k])
                    if target != mod and target != mod[:len(target)]:
                        found.add(target)
                    break
    return found

def cycles(src):
    mods = modules(src)
    graph = {m: deps(m, open(f).read(), mods) for m, f in mods.items()}
    bad = []
    for a in graph:
        for b in graph[a]:
            if a < b and a in graph.get(b, ()):
                bad.append(('::'.join(a) or 'lib', '::'.join(b) or 'lib'))
    return bad

if __name__ == '__main__':
    dirs = sys.argv[1:] or ['crates/model/src', 'crates/ntk/src', 'crates/experiments/src', 'src']
    found = False
    for d in dirs:
        for a, b in cycles(d):
            print(f'{d}: {a} <-> {b}')
            found = True
    sys.exit(1 if found else 0)
