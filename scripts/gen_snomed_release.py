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
Like a real release: concept, description and relationship ids are unique SCTIDs (with their
check digits), and every metadata concept the rows refer to (modules, definition statuses,
description types, case significance, characteristic types, modifiers, reference sets,
acceptability, |Is a| and the attribute types) is defined with its descriptions and is-a.
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from synthetic_releases import (  # noqa: E402  (from tests/, on the path above)
    ACC,
    CORE,
    DEF,
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
    INITIAL,
    INSENSITIVE,
    IS_A,
    MODEL,
    PREF,
    PRIMITIVE,
    REPLACED_BY,
    SAME_AS,
    SIMPLE_REFSET,
    STATED,
    SYN,
    RF2File,
    sctid,
    write_snomed_extension,
    write_snomed_release,
)

ROOT = "138875005"
MODEL_COMPONENT = "900000000000441003"
ATTRIBUTE = "410662002"   # |Concept model attribute|
# Every metadata concept the release's rows refer to, with the hierarchy a real release gives
# them: (id, FSN, preferred term, parent).
METADATA = [
    (MODEL_COMPONENT, "SNOMED CT Model Component (metadata)", "SNOMED CT Model Component", ROOT),
    ("900000000000442005", "Core metadata concept (core metadata concept)", "Core metadata concept",
     MODEL_COMPONENT),
    ("900000000000443000", "Module (core metadata concept)", "Module", "900000000000442005"),
    ("900000000000445007", "International Health Terminology Standards Development Organisation maintained module"
     " (core metadata concept)", "IHTSDO maintained module", "900000000000443000"),
    (CORE, "SNOMED CT core module (core metadata concept)", "SNOMED CT core", "900000000000445007"),
    (MODEL, "SNOMED CT model component module (core metadata concept)", "SNOMED CT model component",
     "900000000000445007"),
    ("900000000000444006", "Definition status (core metadata concept)", "Definition status", "900000000000442005"),
    (PRIMITIVE, "Not sufficiently defined by necessary conditions definition status (core metadata concept)",
     "Not sufficiently defined by necessary conditions definition status", "900000000000444006"),
    (DEFINED, "Sufficiently defined by necessary conditions definition status (core metadata concept)",
     "Sufficiently defined by necessary conditions definition status", "900000000000444006"),
    ("900000000000446008", "Description type (core metadata concept)", "Description type", "900000000000442005"),
    (FSN, "Fully specified name (core metadata concept)", "Fully specified name", "900000000000446008"),
    (SYN, "Synonym (core metadata concept)", "Synonym", "900000000000446008"),
    (DEF, "Definition (core metadata concept)", "Definition", "900000000000446008"),
    ("900000000000447004", "Case significance (core metadata concept)", "Case significance", "900000000000442005"),
    (INSENSITIVE, "Entire term case insensitive (core metadata concept)", "Entire term case insensitive",
     "900000000000447004"),
    ("900000000000017005", "Entire term case sensitive (core metadata concept)", "Entire term case sensitive",
     "900000000000447004"),
    (INITIAL, "Only initial character case insensitive (core metadata concept)",
     "Only initial character case insensitive", "900000000000447004"),
    ("900000000000449001", "Characteristic type (core metadata concept)", "Characteristic type",
     "900000000000442005"),
    ("900000000000006009", "Defining relationship (core metadata concept)", "Defining relationship",
     "900000000000449001"),
    (INFERRED, "Inferred relationship (core metadata concept)", "Inferred relationship", "900000000000006009"),
    (STATED, "Stated relationship (core metadata concept)", "Stated relationship", "900000000000006009"),
    ("900000000000227009", "Additional relationship (core metadata concept)", "Additional relationship",
     "900000000000449001"),
    ("900000000000450001", "Modifier (core metadata concept)", "Modifier", "900000000000442005"),
    (EXISTENTIAL, "Existential restriction modifier (core metadata concept)", "Some", "900000000000450001"),
    ("900000000000452009", "Universal restriction modifier (core metadata concept)", "All", "900000000000450001"),
    ("900000000000454005", "Foundation metadata concept (foundation metadata concept)", "Foundation metadata concept",
     MODEL_COMPONENT),
    ("900000000000455006", "Reference set (foundation metadata concept)", "Reference set", "900000000000454005"),
    ("446609009", "Simple type reference set (foundation metadata concept)", "Simple type reference set",
     "900000000000455006"),
    (SIMPLE_REFSET, "Lateralizable body structure reference set (foundation metadata concept)",
     "Lateralizable body structure reference set", "446609009"),
    ("900000000000506000", "Language type reference set (foundation metadata concept)",
     "Language type reference set", "900000000000455006"),
    (EN_US, "United States of America English language reference set (foundation metadata concept)",
     "US English", "900000000000506000"),
    (EN_GB, "Great Britain English language reference set (foundation metadata concept)", "GB English",
     "900000000000506000"),
    ("900000000000521006", "Association type reference set (foundation metadata concept)",
     "Association type reference set", "900000000000455006"),
    (REPLACED_BY, "REPLACED BY association reference set (foundation metadata concept)",
     "REPLACED BY association reference set", "900000000000521006"),
    (SAME_AS, "SAME AS association reference set (foundation metadata concept)", "SAME AS association reference set",
     "900000000000521006"),
    ("900000000000534007", "Module dependency reference set (foundation metadata concept)",
     "Module dependency reference set", "900000000000455006"),
    ("900000000000511003", "Acceptability (foundation metadata concept)", "Acceptability", "900000000000454005"),
    (PREF, "Preferred (foundation metadata concept)", "Preferred", "900000000000511003"),
    (ACC, "Acceptable (foundation metadata concept)", "Acceptable", "900000000000511003"),
    (ATTRIBUTE, "Concept model attribute (attribute)", "Concept model attribute", MODEL_COMPONENT),
    (IS_A, "Is a (attribute)", "Is a", ATTRIBUTE),
]
N_ATTRIBUTES = 40   # the attribute types of the generated relationships, under |Concept model attribute|
TOP = ["71388002", "123037004", "404684003", "363787002", "260787004", "105590001", "308916002",
       "272379006", "243796009", "48176007", "370115009", "78621006", "410607006", "373873005",
       "419891008", "362981000", "254291000", "123038009"]
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

    # concept ids: the fixed ones, then generated ones that none of them can collide with
    fixed = [ROOT] + TOP
    reserved = set(fixed) | {m[0] for m in METADATA}
    generated, item = [], 100000
    while len(generated) < max(n - len(fixed), 0) + N_ATTRIBUTES:
        cid = sctid(item)
        item += 1
        if cid not in reserved:
            generated.append(cid)
    attr_types = generated[:N_ATTRIBUTES]
    ids = fixed + generated[N_ATTRIBUTES:]
    n = len(ids)
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

    def desc(cid, typ, text, refs, active=1, module=CORE):
        dn[0] += 1
        did = sctid(dn[0], "01")
        fd.line(f"{did}\t{date}\t{active}\t{module}\t{cid}\ten\t{typ}\t{text}\t{INSENSITIVE}")
        for refset, accept in refs:
            fl.line(f"{uuid()}\t{date}\t1\t{module}\t{refset}\t{did}\t{accept}")

    def rel(src, dst, typ, group, active=1, module=CORE):
        rn[0] += 1
        fr.line(f"{sctid(rn[0], '02')}\t{date}\t{active}\t{module}\t{src}\t{dst}\t{group}\t{typ}\t{INFERRED}"
                f"\t{EXISTENTIAL}")

    both_pref = ((EN_US, PREF), (EN_GB, PREF))
    both_acc = ((EN_US, ACC), (EN_GB, ACC))
    # the metadata concepts (model component module) and the attribute types
    attributes = [(a, f"Attribute {k} (attribute)", f"Attribute {k}", ATTRIBUTE) for k, a in enumerate(attr_types)]
    for cid, fsn, pt, parent in METADATA + attributes:
        fc.line(f"{cid}\t{date}\t1\t{MODEL}\t{PRIMITIVE}")
        desc(cid, FSN, fsn, both_pref, module=MODEL)
        desc(cid, SYN, pt, both_pref, module=MODEL)
        rel(cid, parent, IS_A, 0, module=MODEL)
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
            fcv.line(f"{sctid(rn[0], '02')}\t{date}\t1\t{CORE}\t{cid}\t#{int(rand() * 500)}\t1\t{attr_types[0]}"
                     f"\t{INFERRED}\t{EXISTENTIAL}")
        if rand() < 0.01:
            fs.line(f"{uuid()}\t{date}\t1\t{CORE}\t{SIMPLE_REFSET}\t{cid}")
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
