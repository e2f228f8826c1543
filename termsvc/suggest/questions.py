"""The clinical question of a name as order entry and referrals write it: `MRT Knie links bei V.a.
Meniskusläsion`, `US abdomen for RUQ pain`, `Echo lies rechts, hernia?`, `Rx piede destro, dolore all'alluce`.

The question opens at a word the lexicon lists as a stop word meaning `reason` (`bei`, `V.a.`, `for`,
`r/o`, `pour`, `per`, `i.v.m.`, `nach`; not when the exam's purpose follows: `per lo studio del pancreas`)
or `finding` (a symptom, a diagnosis, an event: `pain`, `Schmerzen`,
`fracture`, `Sturz`), or at a question mark before a word (`?pneumonia`, `¿hidronefrosis?`), and runs to
the end of its clause (commas, semicolons, colons, brackets and a spaced dash separate clauses: `Rx mano
por traumatismo, 4º dedo` names the finger). A question mark after a word, or a finding word after the
first clause (where the exam is named), puts its whole clause in question (`..., Harnstau?`, `(RUQ pain)`).
What the question names is a finding, not what is imaged: its regions and its other words count for nothing
when the name says a region outside it (`Echo abdomen bij buikpijn rechtsboven` is the abdomen), and in
full when only the question names one (`Sonographie bei Knieschmerzen`).
"""
from __future__ import annotations

import re

from termsvc.suggest.lexicon import Segment
from termsvc.suggest.text import fold

REASON = ("reason",)          # the meaning of a stop word that opens the clinical question
# ... unless the exam's purpose follows it, naming what is examined: `per lo studio del pancreas`, `for
# assessment of the pancreas`, `zur Darstellung des Pankreas` (a finding after it opens the question itself)
PURPOSES = (("study",), ("imaging",), ("examination",))
FINDING = ("finding",)        # ... and of a finding: it opens it too, or puts its clause in question
TAKEN_OUT = ("region", "word")       # the parts of the question that count for nothing
QUESTION_MARKS = ("?", "¿", "？")
_MARKS = re.compile(r"[a-z0-9]+|[?,;:()\[\]]|\s-\s")


def _says(segment: Segment, meaning: tuple) -> bool:
    return bool(segment.facets) and all(f.kind == "stop" for f in segment.facets) \
        and any(f.alternatives == meaning for f in segment.facets)


def _marks(name: str) -> tuple[list[int], list[bool]]:
    """For each word of the name (as text.tokens splits it): the number of its clause, and whether a
    question mark puts it in question."""
    text = fold(name).replace("+", " plus ")
    clause_of: list[int] = []
    asked: list[bool] = []
    clause, start, asking = 0, 0, False
    for m in _MARKS.finditer(text):
        t = m.group()
        if t[0].isalnum():
            clause_of.append(clause)
            asked.append(asking)
        elif t == "?":
            after, before = text[m.end():m.end() + 1], text[m.start() - 1:m.start()]
            if after.isalnum() or (after == " " and before in ("", " ") and re.match(r"\s*[a-z0-9]", text[m.end():])):
                asking = True              # `?pneumonia`, `¿hidronefrosis`, `CT ? PE`: what follows is asked
            else:
                for i in range(start, len(asked)):
                    asked[i] = True        # `Harnstau?`: the clause it ends is asked
        else:
            clause, start, asking = clause + 1, len(clause_of), False
    return clause_of, asked


def _starts(segments: list[Segment], words: list[str]) -> list[int]:
    """The index of each segment's first word (the parts of a compound share their word's)."""
    out: list[int] = []
    i = 0
    for k, s in enumerate(segments):
        prev = segments[k - 1] if k else None
        if (prev is not None and s.how == prev.how == "compound" and s.words == prev.words
                and (i >= len(words) or words[i] != s.words[0])):
            out.append(out[-1])
            continue
        out.append(min(i, len(words) - 1))
        i += len(s.words)
    return out


def asked(name: str, words: list[str], segments: list[Segment]) -> set[int]:
    """The indices of the segments (of these words of the name) in its clinical question."""
    opens = [(_says(s, REASON) and not _purpose_after(segments, k)) or _says(s, FINDING)
             for k, s in enumerate(segments)]
    if not any(opens) and not any(mark in name for mark in QUESTION_MARKS):
        return set()
    clause_of, by_mark = _marks(name)
    n = len(clause_of)
    if not n or n != len(words) or not segments:
        return set()
    starts = _starts(segments, words)
    # a finding after the first clause puts its clause in question; in the first it opens the question
    found = {clause_of[i] for s, i in zip(segments, starts) if _says(s, FINDING) and clause_of[i] > clause_of[0]}
    out: set[int] = set()
    open_clause = None
    for k, i in enumerate(starts):
        clause = clause_of[i]
        if open_clause is not None and clause != open_clause:
            open_clause = None
        if opens[k]:
            open_clause = clause
        if open_clause is not None or by_mark[i] or clause in found:
            out.add(k)
    return out


def _purpose_after(segments: list[Segment], k: int) -> bool:
    """Is the first word after segment k that is no stop word the exam's purpose (PURPOSES)?"""
    for s in segments[k + 1:]:
        if s.facets and all(f.kind == "stop" for f in s.facets):
            continue
        return any(f.kind == "procedure" and f.alternatives in PURPOSES for f in s.facets)
    return False


def drop_findings(name: str, words: list[str], segments: list[Segment], by_segment: list, known) -> None:
    """The clinical question's regions and other words (see the module's description) taken out, when the
    name names a region outside it (a region word, or a word of the target's own: `gallbladder`)."""
    question = asked(name, words, segments)
    if not question:
        return
    if not any(p.kind == "region" or (p.kind == "word" and all(known(w) for w in p.raw))
               for k, parts in enumerate(by_segment) if k not in question for p in parts):
        return
    for k in question:
        by_segment[k] = [p for p in by_segment[k] if p.kind not in TAKEN_OUT]
