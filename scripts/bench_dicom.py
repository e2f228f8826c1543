#!/usr/bin/env python3
"""Benchmark of `termsvc dicom-codes` over a folder of DICOM files.

    .venv/bin/python scripts/bench_dicom.py                 # 1,000 files, the default build
    .venv/bin/python scripts/bench_dicom.py --files 5000 --db /tmp/x.db

Writes N files (pydicom's CT_small.dcm, pixel data included, with varied Modality, Body Part
Examined, Laterality, Study Description and Procedure Code Sequence; 20 studies) into a
temporary folder, then times `termsvc dicom-codes FOLDER` end to end (process start, reading
every header, translating, writing the JSON) and reports files/s (goal: >= 500).
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

MODALITIES = ["CT", "MR", "TAC", "RM", "ECO", "RX", "US", "NM"]
BODY_PARTS = ["CHEST", "chest ", "HEAD", "ABDOMEN", "KNEE", "WHOLE BODY", "THORAX", "SKULL"]
LATERALITY = ["R", "L", "B", ""]
DESCRIPTIONS = ["Torax PA y lateral", "CT HEAD W/O", "RM rodilla", "Eco abdominal"]
PROCEDURES = ["0012", "0013", "0030", "9999"]


def write_files(folder: str, n: int, seed: int = 20261129) -> None:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rnd = random.Random(seed)
    studies = [(generate_uid(), [generate_uid() for _ in range(3)]) for _ in range(20)]
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE  # "chest " on purpose
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    for i in range(n):
        study, series = studies[i % len(studies)]
        ds = template.copy()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series[i % 3]
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.Modality = rnd.choice(MODALITIES)
        ds.BodyPartExamined = rnd.choice(BODY_PARTS)
        ds.Laterality = rnd.choice(LATERALITY)
        ds.StudyDescription = rnd.choice(DESCRIPTIONS)
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = rnd.choice(PROCEDURES), "99ESCAT", "local"
        ds.ProcedureCodeSequence = [item]
        ds.save_as(os.path.join(folder, f"IM{i:05d}"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--db", help="the build to answer from (default: setting db)")
    args = ap.parse_args(argv)
    from termsvc import settings
    db = os.path.abspath(args.db or settings.load().db)
    if not os.path.exists(db):
        raise SystemExit(f"bench_dicom: {db}: no build (run `termsvc build`, or give --db)")
    folder = tempfile.mkdtemp(prefix="termsvc-bench-dicom-")
    try:
        write_files(folder, args.files)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        exe = os.path.join(os.path.dirname(sys.executable), "termsvc")
        t0 = time.perf_counter()
        r = subprocess.run([exe, "dicom-codes", folder, "--db", db], capture_output=True)
        elapsed = time.perf_counter() - t0
        if r.returncode not in (0, 1):
            raise SystemExit(f"bench_dicom: termsvc dicom-codes failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
        print(f"dicom-codes: {args.files:,} files ({size / 1e6:.1f} MB) in {elapsed:.2f} s end to end:"
              f" {args.files / elapsed:,.0f} files/s ({len(r.stdout) / 1e6:.1f} MB of JSON)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
