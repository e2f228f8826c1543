"""What the loaded tables already say: a local display another row maps (the same text, or close)
proposes that target first; a rejected row counts against its target for that text.

    evidence = Evidence(tables)              # termsvc.mappings.table.Table objects
    evidence.find("TC craneo")               # [Said] best first
"""
from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from termsvc.suggest.text import tokens

CLOSE = 90          # token-sort similarity (0-100) from which a display counts as the same
ACCEPTED_SCORE = 0.99
CLOSE_FLOOR = 0.85


@dataclass(frozen=True, slots=True)
class Said:
    accepted: bool          # False: rejected
    table: str
    row: int
    display: str            # the source display (or code) of that row
    system: str
    code: str
    similarity: int         # 100: the same text

    def score(self) -> float:
        if self.similarity >= 100:
            return ACCEPTED_SCORE
        return CLOSE_FLOOR + (ACCEPTED_SCORE - CLOSE_FLOOR - 0.02) * (self.similarity - CLOSE) / (100 - CLOSE)

    def why(self) -> str:
        how = "the same text" if self.similarity >= 100 else f"a close text ({self.similarity}%)"
        return (f"{'accepted' if self.accepted else 'rejected'} in table {self.table} row {self.row}"
                f" for '{self.display}' ({how})")


def key(text: str) -> str:
    return " ".join(tokens(text))


class Evidence:
    def __init__(self, tables=()):
        self.by_text: dict[str, list] = {}
        for t in tables:
            for r in t.rows:
                if r.status not in ("accepted", "rejected") or r.no_map or not r.target_code:
                    continue
                text = r.source_display or r.source_code
                k = key(text)
                if k:
                    self.by_text.setdefault(k, []).append(
                        (r.status == "accepted", t.name, r.row, text, r.target_system, r.target_code))
        self.keys = list(self.by_text)

    def __bool__(self):
        return bool(self.by_text)

    def find(self, name: str, skip: tuple | None = None) -> list[Said]:
        """What the tables say of this name (skip: (table, row) of the row asking, not its own evidence)."""
        k = key(name)
        if not k or not self.keys:
            return []
        found = process.extract(k, self.keys, scorer=fuzz.token_sort_ratio, score_cutoff=CLOSE, limit=5)
        out = []
        for text, sim, _i in found:
            for accepted, table, row, display, system, code in self.by_text[text]:
                if skip and (table, row) == skip:
                    continue
                out.append(Said(accepted, table, row, display, system, code, int(round(sim))))
        return sorted(out, key=lambda s: (-s.similarity, not s.accepted))
