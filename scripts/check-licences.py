#!/usr/bin/env python3
"""Fails if any crate the `ward` binary links is licensed only under GPL-family terms.

Reads `cargo metadata` for the normal (non-dev) dependency graph of ward-cli. A crate passes
when its SPDX expression offers at least one licence outside the GPL family.
"""
import json
import re
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--locked"], text=True))
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(p["id"] for p in meta["packages"] if p["name"] == "ward-cli")

seen, stack = set(), [root]
while stack:
    pid = stack.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        if any(k["kind"] in (None, "normal") for k in dep["dep_kinds"]):
            stack.append(dep["pkg"])

COPYLEFT = re.compile(r"\b(A?GPL|LGPL)", re.I)
bad = []
for pid in sorted(seen):
    p = packages[pid]
    lic = p.get("license") or ""
    if not lic:
        if p.get("source") is None:
            continue  # a workspace crate: licence inherited from the workspace
        bad.append(f"{p['name']} {p['version']}: no licence declared")
        continue
    alternatives = [a.strip(" ()") for a in re.split(r"\s+OR\s+|/", lic)]
    if all(COPYLEFT.search(a) for a in alternatives):
        bad.append(f"{p['name']} {p['version']}: {lic}")
if bad:
    print("crates in the ward binary without a non-GPL licence:", *bad, sep="\n  ")
    sys.exit(1)
print(f"licences ok: {len(seen)} crates in the ward binary, none GPL-only")
