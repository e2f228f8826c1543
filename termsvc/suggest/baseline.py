"""The baseline a ranking is measured against: character-trigram TF-IDF cosine, as OHDSI Usagi
ranks (lower case, character n-grams of the text, TF-IDF weights, cosine similarity; no lexicon,
no stemming, no translation). Each candidate scores by its best designation.
"""
from __future__ import annotations

import math
from collections import Counter

from termsvc.suggest.candidates import Scope


def trigrams(text: str) -> Counter:
    t = " " + " ".join(text.lower().split()) + " "
    return Counter(t[i:i + 3] for i in range(len(t) - 2))


class TrigramTfidf:
    def __init__(self, scope: Scope):
        self.scope = scope
        grams = [trigrams(t.text) for t in scope.texts]
        df = Counter(g for c in grams for g in c)
        n = len(grams)
        self.idf = {g: math.log((1 + n) / (1 + d)) + 1 for g, d in df.items()}
        self.vectors = [self._vector(c) for c in grams]
        self.postings: dict = {}
        for i, v in enumerate(self.vectors):
            for g in v:
                self.postings.setdefault(g, []).append(i)

    def _vector(self, counts: Counter) -> dict:
        v = {g: tf * self.idf.get(g, 0.0) for g, tf in counts.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {g: x / norm for g, x in v.items() if x}

    def rank(self, name: str, top: int = 5) -> list[tuple]:
        """[(candidate, cosine)] best first."""
        q = self._vector(trigrams(name))
        sims: dict = {}
        for g, w in q.items():
            for i in self.postings.get(g, ()):
                sims[i] = sims.get(i, 0.0) + w * self.vectors[i][g]
        best: dict = {}
        for i, s in sims.items():
            c = self.scope.texts[i].candidate
            if s > best.get(c, 0.0):
                best[c] = s
        order = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [(self.scope.candidates[c], round(s, 4)) for c, s in order]
