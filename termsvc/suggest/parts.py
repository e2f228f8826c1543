"""A radiology procedure name split into parts: modality (DICOM CID 29, else CID 33), body region
(CID 4), laterality (CID 244), contrast (with / without / not said).

The lexicon says which words name which part (their English meanings); each part is then resolved
against the DICOM context group loaded in the build, by the same ranking as any suggestion - the
codes and displays come from the store, not from a table written here. A build without DICOM
answers no coded parts (null), never a guess.

    parser = Parser(store, lexicon)
    parser.parts(query)     # {"modality": {"system","code","display"}|None, "region": ..., "laterality": ...,
                            #  "contrast": "with"|"without"|None}
"""
from __future__ import annotations

from termsvc.fhir.dicom import CID_URL
from termsvc.suggest.candidates import Scope
from termsvc.suggest.rank import Query, Ranker

MODALITY_CIDS = (29, 33)      # acquisition modality first, then every modality
REGION_CID = 4
LATERALITY_CID = 244
MIN_SCORE = {"modality": 0.5, "region": 0.45, "laterality": 0.5}
NO_PARTS = {"modality": None, "region": None, "laterality": None, "contrast": None}


def contrast_of(query: Query) -> str | None:
    """with, without or None from the contrast words (with and without contrast: with)."""
    said = [" ".join(p.alternatives[0]).split() for p in query.parts if p.kind == "contrast" and p.alternatives]
    if not said:
        return None
    return "with" if any("with" in words for words in said) else "without"


class Parser:
    def __init__(self, store, lexicon, max_size: int | None = None):
        self.store = store
        self.lexicon = lexicon
        self.max_size = max_size
        self._rankers: dict = {}

    def ranker(self, cid: int) -> Ranker:
        r = self._rankers.get(cid)
        if r is None:
            scope = Scope.of(self.store, CID_URL.format(cid), max_size=self.max_size, canonical=self.lexicon.canonical)
            r = self._rankers[cid] = Ranker(scope, self.lexicon)
        return r

    def _best(self, cid: int, query: Query, part: str):
        if not query.parts:
            return None
        ranked = self.ranker(cid).rank(query, 1)
        if ranked and ranked[0].score >= MIN_SCORE[part]:
            c = ranked[0].candidate
            return {"system": c.system, "code": c.code, "display": c.display}
        return None

    def parts(self, query: Query) -> dict:
        modality = None
        first = next((s for s in query.segments if "modality" in s.kinds()), None)
        if first is not None:
            mq = Query(query.name, query.languages, [first],
                       [p for p in query.parts if p.kind == "modality" and p.raw == first.words], query.language)
            for cid in MODALITY_CIDS:
                modality = self._best(cid, mq, "modality")
                if modality:
                    break
        region = self._best(REGION_CID, query.of_kinds(("region", "word")), "region")
        laterality = self._best(LATERALITY_CID, query.of_kinds(("laterality",)), "laterality")
        return {"modality": modality, "region": region, "laterality": laterality, "contrast": contrast_of(query)}

    def close(self) -> None:
        for r in self._rankers.values():
            r.scope.close()
