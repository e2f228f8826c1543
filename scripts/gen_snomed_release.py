#!/usr/bin/env python
"""Write a synthetic SNOMED CT International RF2 Snapshot release (no licensed content).

    gen_snomed_release.py OUTDIR --concepts 370000 [--seed 1] [--date 20250701] [--zip]
    gen_snomed_release.py OUTDIR --small            # the test fixture (INT + Danish extension)

Layout, headers and CRLF as in shared/formats/snomed-rf2.md:
OUTDIR/SnomedCT_InternationalRF2_PRODUCTION_<date>T120000Z/Snapshot/{Terminology,Refset/...}.
Sizes for --concepts N: ~N concepts (~8% inactive), ~4.3 N descriptions, ~8 N relationship
rows (is-a with ~1.35 parents per concept, role-grouped attributes, inactive history), ~7.5 N
language refset rows (en-US + en-GB), historical associations for the inactive concepts.
The is-a hierarchy is a random recursive DAG (mean depth ~ln N, i.e. ~13 for 370k).
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from synthetic_releases import (
    ACC,
    CORE,
    DEFINED,
    EN_GB,
    EN_US,
    EXISTENTIAL,
    FSN,
    H_ASSOC,
    H_CONCEPT,
    H_CONCRETE,
    H_DESC,
    H_LANG,
    H_MODDEP,
    H_REL,
    H_SIMPLE,
    INFERRED,
    INSENSITIVE,
    IS_A,
    MODEL,
    PREF,
    PRIMITIVE,
    REPLACED_BY,
    SAME_AS,
    SYN,
    RF2File,
    sctid,
    write_snomed_extension,
    write_snomed_release,
)

ROOT = "138875005"
TOP = ["71388002", "123037004", "404684003", "363787002", "260787004", "105590001", "308916002",
       "272379006", "243796009", "48176007", "370115009", "78621006", "410607006", "373873005",
       "419891008", "362981000", "254291000", "123038009", "900000000000441003"]
WORDS = ["structure", "procedure", "finding", "disorder", "imaging", "scan", "lesion", "region", "entire", "left", "right", "upper", "lower", "anterior", "posterior", "chronic", "acute", "device", "equipment", "agent", "substance", "observable", "measurement", "cardiac", "pulmonary", "renal", "hepatic", "cerebral", "spinal", "vascular", "muscular", "skeletal", "neoplasm", "fracture", "infection", "syndrome", "examination", "therapy", "contrast", "guided", "radiographic", "ultrasound", "magnetic"]
TAGS = ["procedure", "body structure", "finding", "disorder", "observable entity", "physical object",
        "substance", "qualifier value", "situation", "event"]


def generate(outdir: str, n: int, seed: int = 1, date: str = "20250701") -> str:
    rnd = random.Random(seed)
    rand = rnd.random
    root = os.path.join(outdir, f"SnomedCT_InternationalRF2_PRODUCTION_{date}T120000Z")
    snap = os.path.join(root, "Snapshot")
    tag = f"INT_{date}"
    buf = 1 << 20

    def rf2(*parts, header):
        return RF2File(os.path.join(snap, *parts), header, buffering=buf)

    fc = rf2("Terminology", f"sct2_Concept_Snapshot_{tag}.txt", header=H_CONCEPT)
    fd = rf2("Terminology", f"sct2_Description_Snapshot-en_{tag}.txt", header=H_DESC)
    fr = rf2("Terminology", f"sct2_Relationship_Snapshot_{tag}.txt", header=H_REL)
    fcv = rf2("Terminology", f"sct2_RelationshipConcreteValues_Snapshot_{tag}.txt", header=H_CONCRETE)
    fl = rf2("Refset", "Language", f"der2_cRefset_LanguageSnapshot-en_{tag}.txt", header=H_LANG)
    fa = rf2("Refset", "Content", f"der2_cRefset_AssociationSnapshot_{tag}.txt", header=H_ASSOC)
    fs = rf2("Refset", "Content", f"der2_Refset_SimpleSnapshot_{tag}.txt", header=H_SIMPLE)
    fm = rf2("Refset", "Metadata", f"der2_ssRefset_ModuleDependencySnapshot_{tag}.txt", header=H_MODDEP)
    fm.line(f"00000000-0000-4000-8000-000000000001\t{date}\t1\t{CORE}\t900000000000534007\t{MODEL}\t{date}\t{date}")

    ids = [ROOT] + TOP + [sctid(100000 + i) for i in range(n - 1 - len(TOP))]
    n = len(ids)
    attr_types = [sctid(100000 + i) for i in range(len(TOP) + 1, len(TOP) + 41)]  # early concepts
    inactive = [False] * n
    primary = [0] * n
    children = [[] for _ in range(n)]
    depth_sum = 0
    depth = [0] * n
    uid = [0]
    dn, rn = [0], [0]

    def uuid():
        uid[0] += 1
        u = uid[0]
        return f"{u:08x}-{(u >> 32) & 0xffff:04x}-4000-8000-{u:012x}"

    def desc(cid, typ, text, refs, active=1):
        dn[0] += 1
        did = f"{dn[0]}011"  # partition 01 + a fixed check digit (ids are not validated)
        fd.line(f"{did}\t{date}\t{active}\t{CORE}\t{cid}\ten\t{typ}\t{text}\t{INSENSITIVE}")
        for refset, accept in refs:
            fl.line(f"{uuid()}\t{date}\t1\t{CORE}\t{refset}\t{did}\t{accept}")

    def rel(src, dst, typ, group, active=1):
        rn[0] += 1
        fr.line(f"{rn[0]}021\t{date}\t{active}\t{CORE}\t{src}\t{dst}\t{group}\t{typ}\t{INFERRED}\t{EXISTENTIAL}")

    both_pref = ((EN_US, PREF), (EN_GB, PREF))
    both_acc = ((EN_US, ACC), (EN_GB, ACC))
    nw = len(WORDS)
    for i, cid in enumerate(ids):
        is_inactive = i > 100 and rand() < 0.08
        inactive[i] = is_inactive
        fc.line(f"{cid}\t{date}\t{0 if is_inactive else 1}\t{CORE}\t{DEFINED if rand() < 0.3 else PRIMITIVE}")
        words = " ".join(WORDS[int(rand() * nw)] for _ in range(3))
        name = f"{words.capitalize()} {i}"
        stag = TAGS[i % len(TAGS)]
        desc(cid, FSN, f"{name} ({stag})", both_pref)
        desc(cid, SYN, name, both_pref)
        for k in range(int(rand() * 4.6)):
            desc(cid, SYN, f"{name} variant {k}", both_acc)
        if rand() < 0.5:
            desc(cid, SYN, f"{name} old term", (), active=0)
        if i == 0:
            continue
        if is_inactive:
            # history only: inactive relationship rows and an association
            for _ in range(3):
                rel(cid, ids[int(rand() * i)], IS_A, 0, active=0)
            target = int(rand() * i)
            while inactive[target]:
                target = int(rand() * i)
            fa.line(f"{uuid()}\t{date}\t1\t{CORE}\t{REPLACED_BY if rand() < 0.8 else SAME_AS}\t{cid}\t{ids[target]}")
            continue
        if i <= len(TOP):
            parents = [0]
        else:
            p1 = int(i * rand() ** 0.7)
            while inactive[p1]:
                p1 = int(i * rand() ** 0.7)
            parents = [p1]
            if rand() < 0.30:
                # a second parent close to the first (one of its siblings), as in SNOMED CT
                # where the parents of a concept share most of their ancestry
                sibs = children[primary[p1]]
                p2 = sibs[int(rand() * len(sibs))]
                if p2 != p1 and not inactive[p2]:
                    parents.append(p2)
        primary[i] = parents[0]
        children[parents[0]].append(i)
        depth[i] = 1 + min(depth[p] for p in parents)
        depth_sum += depth[i]
        for p in parents:
            rel(cid, ids[p], IS_A, 0)
        # attributes: ~4 active rows in role groups, plus ~4.1 inactive history rows
        for g in range(int(rand() * 3) + 1):
            for _ in range(int(rand() * 2.2) + 1):
                rel(cid, ids[int(rand() * n)], attr_types[int(rand() * 40)], g)
        for _ in range(int(rand() * 9.2)):
            rel(cid, ids[int(rand() * n)], attr_types[int(rand() * 40)], 0, active=0)
        if rand() < 0.02:
            rn[0] += 1
            fcv.line(f"{rn[0]}021\t{date}\t1\t{CORE}\t{cid}\t#{int(rand() * 500)}\t1\t{attr_types[0]}\t{INFERRED}\t{EXISTENTIAL}")
        if rand() < 0.01:
            fs.line(f"{uuid()}\t{date}\t1\t{CORE}\t723264001\t{cid}")
    for f in (fc, fd, fr, fcv, fl, fa, fs, fm):
        f.close()
    print(f"{fc.n} concepts, {fd.n} descriptions, {fr.n} relationships (+{fcv.n} concrete),"
          f" {fl.n} language members, {fa.n} associations; mean depth {depth_sum / max(1, n):.1f},"
          f" max depth {max(depth)}", file=sys.stderr)
    return root


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--concepts", type=int, default=370_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--date", default="20250701")
    ap.add_argument("--small", action="store_true", help="write the test fixture (INT + DK extension)")
    ap.add_argument("--zip", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    t0 = time.monotonic()
    if a.small:
        paths = [write_snomed_release(a.outdir, a.date, zip=a.zip), write_snomed_extension(a.outdir, zip=a.zip)]
    else:
        paths = [generate(a.outdir, a.concepts, a.seed, a.date)]
        if a.zip:
            from synthetic_releases import _zip_folder
            paths = [_zip_folder(paths[0])]
    for p in paths:
        print(p)
    print(f"written in {time.monotonic() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
