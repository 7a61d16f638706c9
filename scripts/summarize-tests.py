#!/usr/bin/env python3
"""Counts Swift Testing results in a `swift test` log and prints one plain closing line.

Swift Testing prints one line per test ("✔ Test name() passed", "✘ Test name() recorded an issue",
"➜ Test name() skipped: reason"); a parameterised test counts once. Skips are listed with their
reasons so a missing precondition is never silent.
"""
import re
import sys

# A test is named by its function (`name(args:)`) or by its display name in quotes.
NAME = r"Test (\"[^\"]*\"|\S.*?\))"

log = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
passed, failed, skipped = set(), set(), {}
for line in log:
    if re.search(r"Test run with", line):
        continue
    m = re.search(NAME + r" (?:with \d+ test cases? )?passed", line)
    if m:
        passed.add(m.group(1))
        continue
    m = re.search(NAME + r" (?:with \d+ test cases? )?failed", line)
    if m:
        failed.add(m.group(1))
        continue
    m = re.search(NAME + r" skipped(?::\s*(.*))?", line)
    if m:
        skipped[m.group(1)] = (m.group(2) or "").strip()
passed -= failed
if skipped:
    print("skipped tests (reason):")
    for name, reason in sorted(skipped.items()):
        print(f"  {name}: {reason}")
print(f"swift-testing: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
