#!/usr/bin/env python
"""Write a synthetic LOINC release (no licensed content) in the layout of shared/formats/loinc.md.

    gen_loinc_release.py OUTDIR --small                 # the test fixture (OUTDIR/loinc/Loinc_2.80)
    gen_loinc_release.py OUTDIR --terms 100000          # the fixture plus N generated terms,
                                                        # parts, hierarchy rows and de-DE variants
"""
import argparse
import csv
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from synthetic_releases import LOINC_HEADER, write_loinc_release  # noqa: E402  (from tests/, on the path above)


def luhn_check(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def append_rows(path, rows):
    with open(path, "a", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def grow(root: str, n: int, seed: int = 1):
    rnd = random.Random(seed)
    acc = os.path.join(root, "AccessoryFiles")
    systems = ["Ser/Plas", "Bld", "Urine", "Chest", "Head", "Abdomen", "XXX"]
    classes = ["CHEM", "HEM/BC", "MICRO", "RAD", "DOC.ONTOLOGY", "PANEL.CHEM"]
    groupers = [f"LP{300000 + k}-{luhn_check(str(300000 + k))}" for k in range(max(10, n // 50))]
    terms, hier, variants = [], [], []
    for k, g in enumerate(groupers):
        parent = "LP432695-7" if k < 10 else groupers[rnd.randrange(k)]
        hier.append(("", k + 1, parent, g, f"Group {k}"))
    for i in range(n):
        digits = str(100000 + i)
        code = f"{digits}-{luhn_check(digits)}"
        r = dict.fromkeys(LOINC_HEADER, "")
        comp = f"Analyte {i}"
        sysv = rnd.choice(systems)
        status = "DEPRECATED" if rnd.random() < 0.05 else "ACTIVE"
        r.update(LOINC_NUM=code, COMPONENT=comp, PROPERTY="MCnc", TIME_ASPCT="Pt", SYSTEM=sysv,
                 SCALE_TYP="Qn", CLASS=rnd.choice(classes), STATUS=status, CLASSTYPE=1,
                 SHORTNAME=f"{comp} {sysv[:4]}", LONG_COMMON_NAME=f"{comp} [Mass/volume] in {sysv}",
                 RELATEDNAMES2="Synthetic; Test", ORDER_OBS="Observation")
        terms.append([r[h] for h in LOINC_HEADER])
        hier.append(("", 1, rnd.choice(groupers), code, r["LONG_COMMON_NAME"]))
        if rnd.random() < 0.5:
            variants.append((code, None, None, None, None, None, None, None, None,
                             f"{comp} [Masse/Volumen] in {sysv}", None, None))
    append_rows(os.path.join(root, "LoincTable", "Loinc.csv"), terms)
    append_rows(os.path.join(acc, "ComponentHierarchyBySystem", "ComponentHierarchyBySystem.csv"), hier)
    append_rows(os.path.join(acc, "LinguisticVariants", "deDE15LinguisticVariant.csv"), variants)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--terms", type=int, default=0)
    ap.add_argument("--version", default="2.80")
    ap.add_argument("--zip", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    root = write_loinc_release(a.outdir, a.version)
    if a.terms and not a.small:
        grow(root, a.terms)
    if a.zip:
        from synthetic_releases import _zip_folder
        root = _zip_folder(root)
    print(root)
    print(f"written in {time.monotonic() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
