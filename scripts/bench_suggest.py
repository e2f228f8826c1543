#!/usr/bin/env python3
"""Benchmark of `termsvc mappings suggest`: N local names end to end, process start included.

    .venv/bin/python scripts/bench_suggest.py                   # 1,000 names, the default build
    .venv/bin/python scripts/bench_suggest.py --names 5000 --db /tmp/x.db --scope URL

Writes a table of N names (the local names of tests/gold/*.csv - regions, modalities, laterality
and procedure names in eight languages - numbered, repeated with a suffix past the first ~1,100)
into a temporary folder, then times `termsvc mappings suggest TABLE --json --no-default-mappings`
(starting the process, reading the lexicon, expanding the scope and DICOM CID 29/33/4/244 for the
parts, ranking every name, writing the JSON). Goal (issue 19): 1,000 names in <= 20 s on 2 cores,
no network. Exit status 1 when the goal is missed.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
GOLD = os.path.join(PROJECT, "tests", "gold")
CID4 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_4.html"
GOAL_S = 20.0


def names(n: int) -> list[str]:
    base = []
    for f in sorted(os.listdir(GOLD)):
        if f.endswith(".csv"):
            with open(os.path.join(GOLD, f), encoding="utf-8", newline="") as fh:
                base += [r["source_display"] for r in csv.DictReader(fh)]
    return [base[i % len(base)] + (f" {i // len(base) + 1}" if i >= len(base) else "") for i in range(n)]


def write_table(folder: str, n: int, scope: str) -> str:
    path = os.path.join(folder, "bench.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source_code", "source_display"])
        w.writerows((f"L{i:05d}", name) for i, name in enumerate(names(n)))
    with open(os.path.join(folder, "bench.toml"), "w", encoding="utf-8") as f:
        f.write(f'url = "http://example.org/fhir/ConceptMap/bench"\nsource_system = "http://example.org/cs/bench"\n'
                f'target_scope = "{scope}"\n')
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=1000)
    ap.add_argument("--db", default=None, help="the build (default: setting db)")
    ap.add_argument("--scope", default=CID4, help="the table's target_scope (default: DICOM CID 4)")
    args = ap.parse_args()
    termsvc = os.path.join(os.path.dirname(sys.executable), "termsvc")
    with tempfile.TemporaryDirectory() as tmp:
        table = write_table(tmp, args.names, args.scope)
        cmd = [termsvc, "mappings", "suggest", table, "--json", "--no-default-mappings"]
        if args.db:
            cmd += ["--db", args.db]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True)
        elapsed = time.perf_counter() - start
    if done.returncode:
        sys.stderr.write(done.stderr.decode())
        return 2
    rows = done.stdout.count(b'"row":')
    print(f"{rows} names in {elapsed:.2f} s end to end ({rows / elapsed:.0f} names/s); goal <= {GOAL_S:.0f} s"
          f" for 1,000: {'met' if elapsed * 1000 / max(rows, 1) <= GOAL_S else 'MISSED'}")
    return 0 if elapsed * 1000 / max(rows, 1) <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
