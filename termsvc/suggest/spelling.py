"""Misspellings: the word of a vocabulary a word the lexicon lacks was meant to be (`gauhce` -> gauche,
`clavical` -> clavicle, `bassim` -> bassin), or None."""
from __future__ import annotations

from rapidfuzz import fuzz, process

FUZZY_MIN_LENGTH = 5          # shorter words are not corrected (too many near neighbours)
FUZZY_CUTOFF = 84
REPLACED_MIN_LENGTH = 6       # one letter replaced in a word this long is a slip (fuzz.ratio: 83); shorter, another word


def swapped(word: str, words) -> str | None:
    """The word of `words` this one is with two neighbouring letters swapped back (`gauhce` -> gauche,
    one slip that fuzz.ratio counts as two edits), if exactly one such word."""
    found = {w for i in range(len(word) - 1) if word[i] != word[i + 1]
             for w in (word[:i] + word[i + 1] + word[i] + word[i + 2:],) if w in words}
    return found.pop() if len(found) == 1 else None


def replaced(word: str, words) -> str | None:
    """The word of `words` this one is with one letter replaced (`bassim` -> bassin: one slip that fuzz.ratio
    scores below its cutoff in a short word), if exactly one such word of its length."""
    found = {w for w in words if len(w) == len(word) and sum(a != b for a, b in zip(w, word)) == 1}
    return found.pop() if len(found) == 1 else None


def misspelt(word: str, words: set, choices: list) -> str | None:
    """The word of a vocabulary (`words`, and `choices`: the same sorted) this one is a misspelling of."""
    if len(word) < FUZZY_MIN_LENGTH or not choices:
        return None
    found = swapped(word, words)
    if found:
        return found
    best = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    return best[0] if best else (replaced(word, choices) if len(word) >= REPLACED_MIN_LENGTH else None)
