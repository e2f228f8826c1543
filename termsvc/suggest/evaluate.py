"""Measuring a ranking against gold files: top-1, top-5 and mean reciprocal rank (of the first 10)
per language and overall, for the suggestions and for the character-trigram TF-IDF baseline in the
same run; and, for gold rows that give expected parts, how often each parsed part is right.

A gold file is a CSV with the columns
    source_display        the local name
    code                  the expected code (empty: the row only checks parts)
    system                its code system (optional: any system's code counts)
    language              optional (es, de, ...): reported per language, and given to the reading
    target_scope          the value set to rank in (else the --scope given to `termsvc mappings eval`)
    modality, region, laterality, contrast    optional expected parts: codes (modality a DCM code,
                          region and laterality SNOMED CT codes), contrast with|without|none
Codes are read as text, as written.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

from termsvc.suggest.baseline import TrigramTfidf
from termsvc.suggest.rank import read
from termsvc.suggest.text import fold

PART_NAMES = ("modality", "region", "laterality", "contrast")
MRR_DEPTH = 10


class GoldError(ValueError):
    """A gold file that cannot be read."""


@dataclass
class GoldRow:
    file: str
    line: int
    display: str
    language: str
    system: str
    code: str
    scope: str
    parts: dict = field(default_factory=dict)   # part -> expected code / contrast word ("" = none said)


def read_gold(path: str) -> list[GoldRow]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "source_display" not in [h.strip().lower() for h in reader.fieldnames]:
                raise GoldError(f"{path}: no source_display column")
            rows = []
            for n, raw in enumerate(reader, start=2):
                r = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not r.get("source_display"):
                    continue
                parts = {p: r[p] for p in PART_NAMES if p in r and (r[p] or any(r.get(q) for q in PART_NAMES))}
                rows.append(GoldRow(path, n, r["source_display"], r.get("language", "").lower(), r.get("system", ""),
                                    r.get("code", ""), r.get("target_scope", ""), parts))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise GoldError(f"{path}: {e}") from None


class Tally:
    def __init__(self):
        self.n = self.top1 = self.top5 = 0
        self.rr = 0.0

    def add(self, rank: int | None):
        self.n += 1
        if rank is not None:
            self.top1 += rank == 1
            self.top5 += rank <= 5
            self.rr += 1.0 / rank if rank <= MRR_DEPTH else 0.0

    def as_dict(self) -> dict:
        n = self.n or 1
        return {"n": self.n, "top1": round(100 * self.top1 / n, 1), "top5": round(100 * self.top5 / n, 1),
                "mrr": round(self.rr / n, 3)}


def _rank_of(row: GoldRow, codings) -> int | None:
    for i, (system, code) in enumerate(codings, start=1):
        if code == row.code and (not row.system or system == row.system):
            return i
    return None


def evaluate(suggester, rows: list[GoldRow], default_scope: str | None = None) -> dict:
    """The figures of the suggester (termsvc.suggest.service.Suggester) on gold rows."""
    ranking: dict[str, Tally] = {}
    baseline: dict[str, Tally] = {}
    parts = {p: {"n": 0, "right": 0} for p in PART_NAMES}
    parts_by_language: dict = {}
    misses = []
    baselines: dict = {}
    for row in rows:
        lang = row.language or "?"
        scope_url = row.scope or default_scope
        if row.code and scope_url:
            ranker = suggester.ranker(scope_url, None)
            ranked, _parts = suggester.suggest(row.display, ranker, row.language or None, MRR_DEPTH)
            rank = _rank_of(row, [(r.candidate.system, r.candidate.code) for r in ranked])
            for key in (lang, "overall"):
                ranking.setdefault(key, Tally()).add(rank)
            if rank != 1:
                misses.append({"file": row.file, "line": row.line, "source_display": row.display,
                               "expected": row.code, "got": [r.candidate.code + " " + r.candidate.display
                                                             for r in ranked[:3]]})
            base = baselines.get(scope_url)
            if base is None:
                base = baselines[scope_url] = TrigramTfidf(ranker.scope)
            brank = _rank_of(row, [(c.system, c.code) for c, _s in base.rank(row.display, MRR_DEPTH)])
            for key in (lang, "overall"):
                baseline.setdefault(key, Tally()).add(brank)
        if row.parts:
            got_parts = suggester.parser.parts(read(suggester.lexicon, row.display, row.language or None))
            for p, expected in row.parts.items():
                got = got_parts.get(p)
                got = (got or {}).get("code") if isinstance(got, dict) else got
                ok = (got or "") == (expected if fold(expected) not in ("none", "null") else "")
                for tally in (parts[p], parts_by_language.setdefault(lang, {}).setdefault(p, {"n": 0, "right": 0})):
                    tally["n"] += 1
                    tally["right"] += ok
                if not ok:
                    misses.append({"file": row.file, "line": row.line, "source_display": row.display, "part": p,
                                   "expected": expected, "got": got})
    return {"ranking": {k: v.as_dict() for k, v in sorted(ranking.items())},
            "baseline": {k: v.as_dict() for k, v in sorted(baseline.items())},
            "parts": {p: _accuracy(v) for p, v in parts.items() if v["n"]},
            "parts_by_language": {lang: {p: _accuracy(v) for p, v in d.items()}
                                  for lang, d in sorted(parts_by_language.items())},
            "misses": misses}


def _accuracy(t: dict) -> dict:
    return {"n": t["n"], "accuracy": round(100 * t["right"] / (t["n"] or 1), 1)}


def format_report(report: dict) -> str:
    lines = []
    if report["ranking"]:
        lines.append(f"{'language':<10}{'n':>6}{'top-1':>9}{'top-5':>9}{'MRR':>8}   |{'baseline top-1':>16}"
                     f"{'top-5':>9}{'MRR':>8}")
        for lang, t in report["ranking"].items():
            b = report["baseline"].get(lang, {})
            lines.append(f"{lang:<10}{t['n']:>6}{t['top1']:>8}%{t['top5']:>8}%{t['mrr']:>8}   |"
                         f"{b.get('top1', 0):>15}%{b.get('top5', 0):>8}%{b.get('mrr', 0):>8}")
    if report["parts"]:
        lines.append("parts: " + ", ".join(f"{p} {v['accuracy']}% of {v['n']}" for p, v in report["parts"].items()))
        for lang, d in report["parts_by_language"].items():
            lines.append(f"  {lang}: " + ", ".join(f"{p} {v['accuracy']}%" for p, v in d.items()))
    return "\n".join(lines)
