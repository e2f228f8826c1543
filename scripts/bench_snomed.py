#!/usr/bin/env python3
"""Latency of SNOMED CT expansions on a build that holds a (synthetic or real) International Edition.

    scripts/gen_snomed_release.py /tmp/sct --concepts 370000
    termsvc build --db /tmp/sct.db --snomed /tmp/sct/SnomedCT_*
    .venv/bin/python scripts/bench_snomed.py --db /tmp/sct.db

Starts a server on the build (response cache off, so every request is computed) and reports the
median and p90 of 100 sequential requests, each different, for: the first page and a deep page of
the largest is-a hierarchy (`?fhir_vs=isa/<id>`), the same pages of the IG's `im-procedure-type`
(pre-expanded at build time), and a text filter over all SNOMED CT descriptions (`?fhir_vs` with
`filter=`, words sampled from the release's terms).
"""
import argparse
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

import requests

SCT = "http://snomed.info/sct"
IG_PROCEDURES = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type"


def largest_hierarchy(db):
    """The concept with the most descendants among the children of the root (its hierarchy), and that count."""
    root = db.execute("SELECT c.id FROM concept c JOIN code_system s ON s.id = c.cs_id"
                      " WHERE s.url=? AND c.code='138875005' ORDER BY s.id DESC LIMIT 1", (SCT,)).fetchone()[0]
    rows = db.execute("SELECT c.code, (SELECT count(*) FROM closure x WHERE x.ancestor_id = c.id) n"
                      " FROM edge e JOIN concept c ON c.id = e.child_id WHERE e.parent_id=? ORDER BY n DESC",
                      (root,)).fetchall()
    return rows[0]


def words(db, rnd, n):
    terms = [t for (t,) in db.execute("SELECT display FROM concept c JOIN code_system s ON s.id = c.cs_id"
                                      " WHERE s.url=? AND c.display IS NOT NULL LIMIT 200000", (SCT,))]
    pool = sorted({w.lower() for t in terms for w in re.findall(r"[A-Za-z]{4,}", t)})
    return [w[:rnd.randint(3, len(w))] for w in rnd.sample(pool, min(n, len(pool)))]


def timed(session, base, paths):
    out = []
    for p in paths:
        t = time.perf_counter()
        r = session.get(base + p)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{p}: HTTP {r.status_code}: {r.text[:300]}")
    return out


def report(name, ms):
    ms = sorted(ms)
    print(f"{name:<44} median {statistics.median(ms):8.2f} ms   p90 {ms[int(len(ms) * 0.9) - 1]:8.2f} ms"
          f"   ({len(ms)} requests)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--port", type=int, default=8197)
    ap.add_argument("--count", type=int, default=100, help="page size")
    args = ap.parse_args()
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    rnd = random.Random(7)
    code, size = largest_hierarchy(db)
    print(f"largest is-a hierarchy: {code} with {size} descendants")
    env = dict(os.environ, TERMSVC_CACHE_SIZE="0")
    server = subprocess.Popen([sys.executable, "-m", "termsvc.cli", "serve", "--db", args.db, "--port", str(args.port),
                               "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}/fhir"
    try:
        s = requests.Session()
        for _ in range(120):
            try:
                if s.get(base.replace("/fhir", "/health"), timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        q = urllib.parse.quote
        isa = f"/ValueSet/$expand?url={q(SCT + '?fhir_vs=isa/' + code)}&count={args.count}"
        procs = s.get(base + f"/ValueSet/$expand?url={q(IG_PROCEDURES)}&count=1").json()["expansion"]["total"]
        # every request different: vary the offset a little
        report("is-a hierarchy, first page", timed(s, base, [isa + f"&offset={i}" for i in range(100)]))
        report("is-a hierarchy, deep page", timed(s, base, [isa + f"&offset={size - args.count - i * 7}"
                                                           for i in range(100)]))
        if procs > args.count + 300:  # a synthetic release need not put much under 363679005
            ig = f"/ValueSet/$expand?url={q(IG_PROCEDURES)}&count={args.count}"
            report(f"im-procedure-type ({procs} codes), first page",
                   timed(s, base, [ig + f"&offset={i}" for i in range(100)]))
            report("im-procedure-type, deep page", timed(s, base, [ig + f"&offset={procs - args.count - i * 3}"
                                                                  for i in range(100)]))
        else:
            print(f"im-procedure-type has {procs} codes in this release: not measured")
        all_sct = f"/ValueSet/$expand?url={q(SCT + '?fhir_vs')}&count=20&filter="
        report("text filter over all SNOMED CT descriptions", timed(s, base, [all_sct + q(w) for w in words(db, rnd, 100)]))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
