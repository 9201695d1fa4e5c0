#!/usr/bin/env python3
"""The module graph of pos-agent/src and its circles (issue 13).

An arrow a -> b is a `crate::b` path in a (use lines and paths; `#[cfg(test)]`
modules left out), or a call in a of an `Agent` method that only b defines (`impl Agent`
blocks spread over files are arrows too). Prints every module's arrows and
the strongly connected components with more than one module (circles).

    python3 scripts/module-circles.py [pos-agent/src] ['a->b' ...]

An argument `a->b` leaves that arrow out (to see what removing it would do).
Exit status 1 when a circle is left.
"""
import os, re, sys
args = [a for a in sys.argv[1:] if '->' not in a]
without = [tuple(a.split('->')) for a in sys.argv[1:] if '->' in a]
root = args[0] if args else 'pos-agent/src'
mods = {}
for dp, dn, fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root)[:-3]
        parts = rel.split(os.sep)
        if parts[-1] == 'mod': parts = parts[:-1]
        if parts == ['lib'] or parts == ['main']: continue
        top = parts[0]
        mods.setdefault(top, []).append(p)
def strip_tests(src):
    # Every `#[cfg(test)]` module (`mod tests`, a shared `mod testing`):
    # what tests import is not an arrow of the code.
    out = []
    pos = 0
    for m in re.finditer(r'#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod \w+\s*\{', src):
        if m.start() < pos: continue
        out.append(src[pos:m.start()])
        depth = 1; i = m.end()
        while depth and i < len(src):
            if src[i] == '{': depth += 1
            elif src[i] == '}': depth -= 1
            i += 1
        pos = i
    out.append(src[pos:])
    return ''.join(out)
def clean(src):
    src = strip_tests(src)
    src = re.sub(r'//[^\n]*', '', src)
    return src
edges = {m: set() for m in mods}
texts = {m: ''.join(clean(open(p).read()) for p in ps) for m, ps in mods.items()}
for m, t in texts.items():
    for n in re.findall(r'crate::(\w+)', t):
        if n in mods and n != m: edges[m].add(n)
    for grp in re.findall(r'use crate::\{([^;]*)\}', t):
        for n in re.findall(r'(?:^|[,{\s])(\w+)(?:::|\s*[,}]|$)', grp):
            if n in mods and n != m: edges[m].add(n)
# methods added to Agent by each file
agent_methods = {}
for m, t in texts.items():
    for blk in re.finditer(r'impl Agent \{', t):
        body = t[blk.end():]
        depth = 1; i = 0
        while depth and i < len(body):
            if body[i] == '{': depth += 1
            elif body[i] == '}': depth -= 1
            i += 1
        for name in re.findall(r'\n    (?:pub(?:\([^)]*\))? )?(?:async )?fn (\w+)', body[:i]):
            agent_methods.setdefault(name, set()).add(m)
method_edges = set()
for m, t in texts.items():
    for name, owners in agent_methods.items():
        if len(owners) != 1: continue
        (owner,) = owners
        if owner == m: continue
        if re.search(r'\b(?:agent|self|a|keys|sync|me|probe)\.' + name + r'\(', t) or re.search(r'Agent::' + name + r'\b', t):
            edges[m].add(owner); method_edges.add((m, owner))
for a, b in without:
    edges[a].discard(b)
# Tarjan
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in sorted(mods):
    if v not in idx: sc(v)
for m in sorted(edges):
    print(f'{m:14} -> ' + ', '.join(sorted(edges[m])))
print('method-call arrows:', sorted(method_edges))
cyc = [sorted(s) for s in sccs if len(s) > 1]
print('circles (SCCs):', cyc if cyc else 'none')
if cyc:
    for s in cyc:
        ss = set(s)
        print('  arrows inside', s)
        for a in sorted(s):
            for b in sorted(edges[a] & ss):
                print(f'    {a} -> {b}' + ('  (method call)' if (a, b) in method_edges else ''))
sys.exit(1 if cyc else 0)
