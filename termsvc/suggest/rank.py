"""Ranking a scope's candidates for one local name.

The name is read into segments (lexicon.py); each segment gives the ranker a part: its kind and
English alternatives, plus its own words (they match designations in the name's language, and the
code system's own words). A designation's score:

- recall: how much of the name it says - each part counts by the rarity of its words among the
  scope's designations and by how much its kind matters in this scope (a laterality word matters
  for CID 244, little for CID 4 regions; a modality word not at all for regions);
- precision: how much of the designation the name says (its words weighted the same way);
- their harmonic mean, re-scored by string similarity (rapidfuzz) of the English reading and the
  designation; a designation equal to the whole name scores 1.

A candidate's score is that of its best designation. When the words find too few candidates,
string similarity alone (rapidfuzz) proposes the nearest displays, with a low score.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from termsvc import deadline
from termsvc.suggest.candidates import Candidate, Scope
from termsvc.suggest.lexicon import CUT_AT, CUT_SHORT_AT, Lexicon, Segment
from termsvc.suggest.spelling import FUZZY_MIN_LENGTH, misspelt
from termsvc.suggest.questions import drop_findings
from termsvc.suggest.text import TOKEN, asides, fold, stem, tokens

FTS_LIMIT = 2000            # designations the index returns for a name
SIMILARITY_SHARE = 0.15     # of the score, from string similarity
PREFERRED_BONUS = 0.005    # the code's own display over its other designations, all else equal
ALTERNATIVE_STEP = 0.03     # a later alternative of a meaning is worth a little less
FALLBACK_FACTOR = 0.5       # string similarity alone scores at most this
IRRELEVANT_REGION = 0.1     # a region word in a scope without regions (modalities, say): it says little
UNUSED_WORD = 0.3           # a word neither the lexicon nor the scope knows
FALLBACK_CUTOFF = 70        # string similarity (0-100) a fallback candidate needs
PROCEDURE_SHARE = 0.2
READ_MAX = 0.97             # a reading of the name scores at most this: only the whole name is certain
BARE_MATCH = 0.98           # a designation equal to the name without its side: more than a reading of it, less
                            # than one that says the side too (READ_MAX with SIDE_BONUS)
CODE_MATCH = 0.95           # a name equal to a code of the scope (a full reading of it scores more)
SIDE_CONTENT_SHARE = 0.5    # a scope where at least this share of candidates names a side is one of sides
SIDE_BONUS = 0.03           # elsewhere a side the name and the candidate both say only breaks ties (a
                            # READ_MAX reading with it stays under 1) ...
SIDE_MISMATCH = 0.9         # ... and a candidate of another side loses a little
SHARE_SAMPLE = 2000         # displays read to tell what kinds of parts a scope's candidates name
IMPLIED_REGION = 0.5        # the region a modality implies (`cardio-TC`) beside a region the name says (`coronarie`)
FINDING = 0.3               # a region in brackets beside a word nobody knows (`(RUQ pain)`): where a finding is
GUESSES = ("fuzzy", "prefix")
OUTER_LEVEL = 0.5           # a region of an outer level of a protocol tree (`Abdomen^Leber`) beside one of the last
DIGITS = {"finger", "toe"}    # the English meanings of the parts a Roman numeral counts (`Finger IV`)
ROMAN = re.compile(r"i{1,3}|iv|vi{0,3}|ix|x")
PHRASE_SHARE = 0.5          # a meaning of several words counts its rarest in full, the others by this share


@dataclass(slots=True)
class Part:
    """What one segment asks of a designation."""
    kind: str
    alternatives: list        # [tuple of forms] English readings, preferred first
    own: tuple                # the segment's own words as stems of the name's language
    raw: tuple                # the segment's own folded words
    label: str                # for `why`: "rodilla->knee (es)"
    english: str = ""         # the preferred reading as written ("vertebral artery"), for string similarity
    factor: float = 1.0       # how much less (a region a modality implies) it counts than its rarity says


@dataclass
class Query:
    name: str
    languages: list       # the lexicons to read it with, best first
    segments: list
    parts: list = field(default_factory=list)
    language: str = "en"  # the name's language: given (even one the lexicon lacks), else detected

    def of_kinds(self, kinds) -> Query:
        """The same name with only the parts of these kinds."""
        return Query(self.name, self.languages, self.segments, [p for p in self.parts if p.kind in kinds],
                     self.language)


@dataclass(slots=True)
class Ranked:
    candidate: Candidate
    score: float
    why: str
    text: str = ""


def read(lexicon: Lexicon, name: str, language: str | None = None, known=lambda w: False,
         nearest=lambda w: None) -> Query:
    """The query of a local name (its language given, or detected); `known` and `nearest`: the target's
    own words (see Lexicon.segment)."""
    words = tokens(name)
    languages = lexicon.order(language, words)
    length = len(name.strip())
    whole = lexicon.complete_cut(words, languages) if length >= CUT_AT or length == CUT_SHORT_AT else None
    if whole:
        words = words[:-1] + list(whole)
    segments = lexicon.segment(words, languages, known, nearest=nearest)
    if whole:
        segments[-1].corrected = segments[-1].corrected or f"cut: {tokens(name)[-1]}"
    lang = (language or "").lower().split("-")[0] or (languages[0] if languages else "en")
    q = Query(name, languages, segments, language=lang)
    by_segment = [_parts(lexicon, seg, lang) for seg in segments]
    _weigh_implied(segments, by_segment)
    _weigh_findings(segments, by_segment, asides(name), known)
    _weigh_protocol_tree(name, segments, by_segment)
    _negated_nouns(lexicon, segments, languages, by_segment)
    _ordinals_of_digits(segments, by_segment)
    _sides_or_conjunctions(name, segments, by_segment)
    drop_findings(name, words, segments, by_segment, known)
    for parts in by_segment:
        q.parts.extend(parts)
    return q


def _negated_nouns(lexicon: Lexicon, segments: list[Segment], languages: list[str], by_segment: list) -> None:
    """A contrast word that continues a negated phrase over stop words (no word of its own that says with)
    is that phrase's noun: `sans injection de produit de contraste`, `sin administración de contraste` are
    without contrast, not with and without (`ohne KM, mit KM`, `nativ und KM`, `WO/W CONTRAST` are both)."""
    if sum(1 for s in segments for f in s.facets if f.kind == "contrast") < 2:
        return
    negators = {w for lang in dict.fromkeys(languages[:1] + ["en"]) for w in lexicon.negators.get(lang, ())}
    negated, gap = False, 0
    for k, s in enumerate(segments):
        if s.facets and all(f.kind == "stop" for f in s.facets) and s.words[0] not in lexicon.contrast_openers:
            gap += 1
            continue
        says = [f.alternatives[0].split()[0] for f in s.facets if f.kind == "contrast"]
        if negated and gap and says and "without" not in says and s.words[0] not in lexicon.contrast_openers:
            by_segment[k] = [p for p in by_segment[k] if p.kind != "contrast"]
            continue
        negated, gap = len(s.words) > 1 and s.words[0] in negators and says == ["without"], 0


def _ordinals_of_digits(segments: list[Segment], by_segment: list) -> None:
    """A Roman numeral beside a finger or a toe (`Finger IV`, `IV dito`, `Zehe II-V`) counts them: it is no
    intravenous contrast (`IV`) and no vein (`V`)."""
    digit = [any(f.kind == "region" and not DIGITS.isdisjoint(f.alternatives) for f in s.facets) for s in segments]
    if not any(digit):
        return
    numeral = [bool(ROMAN.fullmatch(s.text)) for s in segments]
    counted = [False] * len(segments)
    for order in (range(len(segments)), reversed(range(len(segments)))):   # a run of numerals after, before
        beside = False
        for k in order:
            counted[k] = counted[k] or (numeral[k] and beside)
            beside = digit[k] or (numeral[k] and beside)
    for k, c in enumerate(counted):
        if c:
            by_segment[k] = [p for p in by_segment[k] if p.kind not in ("contrast", "region", "word")]


def _sides_or_conjunctions(name: str, segments: list[Segment], by_segment: list) -> None:
    """A word that is both a stop word and a side (the Portuguese `e`: *and*, *esquerdo*) is the side where
    it is written as one, after a region and not joining it to another region between spaces
    (`RM^Ombro_E^DP_FS`, `RX mao E`, `RX ombro E AP`); else the conjunction (`RX torax PA e perfil`,
    `TC torax e abdomen`).
    A letter before an apostrophe is an elided word, no side (`d'effort`, `l'anca`; `GENOU D` is)."""
    folded = fold(name).replace("+", " plus ")     # as text.tokens reads it
    spans = [m.span() for m in TOKEN.finditer(folded)]
    at = 0
    for i, seg in enumerate(segments):
        at += len(seg.words)
        if "laterality" not in seg.kinds() or len(seg.words) != 1 or at > len(spans):
            continue
        start, end = spans[at - 1]
        elided = len(seg.words[0]) == 1 and folded[end:end + 1] == "'"
        if seg.kinds() == {"stop", "laterality"} and not elided:
            before = segments[i - 1].kinds() if i else set()
            after = segments[i + 1].kinds() if i + 1 < len(segments) else set()
            spaced = folded[start - 1:start].isspace() and folded[end:end + 1].isspace()
            elided = "region" not in before or (spaced and "region" in after)
        if elided:
            by_segment[i] = [p for p in by_segment[i] if p.kind != "laterality"]


def _weigh_implied(segments: list[Segment], by_segment: list) -> None:
    """A region a modality word implies (`cardio-TC`, `mammografia`) counts less beside a region the name
    says (`cardio-TC coronarie`: the coronary arteries, not the heart); a phrase that names its region
    (`AngioTC polmonare`) says it."""
    implied = [i for i, s in enumerate(segments) if _implies(s)]
    if any(p.kind == "region" for i, parts in enumerate(by_segment) if i not in implied for p in parts):
        for i in implied:
            for p in by_segment[i]:
                if p.kind == "region":
                    p.factor *= IMPLIED_REGION


def _implies(segment: Segment) -> bool:
    """A modality word whose region, if any, is implied rather than said (`cardio-TC`, `mammografia`)."""
    return "modality" in segment.kinds() and len(segment.words) == 1


def _weigh_protocol_tree(name: str, segments: list[Segment], by_segment: list) -> None:
    """A DICOM description written as a vendor's protocol tree (`Abdomen^Leber_3Phasen`, `TC TORACE^AngioTC
    polmonare`) goes from the region of the tree to the protocol, level by level (carets between): a region
    the last level says names what is imaged, and another region of an outer level counts less (the liver,
    the pulmonary arteries). The same region on both levels (`Thorax^01_Thorax_KM`) counts in full, and a
    guess (a misspelling, a word cut short) on the last level weighs nothing on the others."""
    if "^" not in name:
        return
    last = set(tokens(name.rsplit("^", 1)[1]))
    inner = {i for i, s in enumerate(segments) if s.words and set(s.words) <= last}
    said = {p.english for i in inner if not _implies(segments[i]) and segments[i].how not in GUESSES
            for p in by_segment[i] if p.kind == "region"}
    if not said:
        return
    for i, parts in enumerate(by_segment):
        if i not in inner:
            for p in parts:
                if p.kind == "region" and p.english not in said:
                    p.factor *= OUTER_LEVEL


def _weigh_findings(segments: list[Segment], by_segment: list, groups: list, known) -> None:
    """A region said in brackets beside a word neither the lexicon nor the target knows (`US gallbladder
    (RUQ pain)`, `vesicula (colico biliar)`: the indication - where the pain is) counts less beside a
    region the name says outside brackets. A bracket of regions alone (`Angioscanner thoracique (arteres
    pulmonaires, EP)`) says what is imaged and counts in full."""
    if not groups:
        return
    aside = set().union(*groups)
    if not any(p.kind in ("region", "word") for s, parts in zip(segments, by_segment)
               if not set(s.words) <= aside for p in parts):
        return
    for group in groups:
        inside = [i for i, s in enumerate(segments) if set(s.words) <= group]
        if not any(not segments[i].facets and segments[i].words[0].isalpha() and len(segments[i].words[0]) > 2
                   and not known(segments[i].words[0]) for i in inside):
            continue
        for i in inside:
            for p in by_segment[i]:
                if p.kind == "region":
                    p.factor *= FINDING


def _parts(lexicon: Lexicon, seg: Segment, lang: str) -> list[Part]:
    own = tuple(stem(lang, w) for w in seg.words)
    if not seg.facets:
        if seg.words[0].isdigit() or len(seg.words[0]) < 2:
            return []
        form = lexicon.canonical(stem("en", seg.words[0]))
        return [Part("word", [(form,)], own, seg.words, f"'{seg.text}'", seg.text)]
    out = []
    for f in seg.facets:
        if f.kind == "stop":
            continue
        alts = [tuple(lexicon.canonical(stem("en", w)) for w in tokens(a)) for a in f.alternatives]
        alts = [a for a in alts if a]
        read_as = f" [{seg.corrected}]" if seg.corrected else ""
        raw = (seg.corrected,) if seg.how == "plural" and seg.corrected else seg.words   # the target's own singular
        out.append(Part(f.kind, alts, own, raw, f"{seg.text}{read_as}->{f.alternatives[0]} ({f.language})",
                        fold(f.alternatives[0])))
    return out


class Ranker:
    def __init__(self, scope: Scope, lexicon: Lexicon):
        self.scope = scope
        self.lexicon = lexicon
        self._relevance: dict[str, float] | None = None
        self._side_forms: set[str] | None = None
        self._spellings: list | None = None

    def known(self, word: str) -> bool:
        return word in self.scope.vocabulary

    def nearest(self, word: str) -> str | None:
        """The scope's own word this one is a misspelling of (`clavical` -> clavicle)."""
        if self._spellings is None:
            self._spellings = sorted(w for w in self.scope.vocabulary if len(w) >= FUZZY_MIN_LENGTH and w.isalpha())
        return misspelt(word, self.scope.vocabulary, self._spellings)

    def share(self, kind: str) -> float:
        """The share of candidates whose display (read with the English lexicon) names a part of this kind
        (by the first meaning of its words: `mammography` names a modality, not a region)."""
        if self._relevance is None:
            every = max(1, len(self.scope.candidates) // SHARE_SAMPLE)   # a large scope: a sample tells
            sample = self.scope.candidates[::every]
            counts: dict[str, int] = {}
            n = max(1, len(sample))
            for c in deadline.bounded(sample):
                kinds = {s.facets[0].kind for s in self.lexicon.segment(tokens(c.display), ["en"], guess=False)
                         if s.facets}
                for k in kinds:
                    counts[k] = counts.get(k, 0) + 1
            self._relevance = {k: v / n for k, v in counts.items()}
        return self._relevance.get(kind, 0.0)

    def relevance(self, kind: str) -> float:
        """How much a part of this kind matters in this scope: by how many candidates name a part of
        the kind (region words matter wherever candidates name regions; a word the lexicon does not
        know counts in full only when the scope uses it, see `_score`)."""
        if kind == "word":
            return 1.0
        share = self.share(kind)
        if kind == "region":
            return 1.0 if share else IRRELEVANT_REGION
        return 0.0 if share == 0 else 0.4 + 0.6 * min(1.0, share * 4)

    def sides_matter(self) -> bool:
        """Is the side what this scope's codes are about (CID 244), rather than a detail of some of them
        (CID 4's `Right inguinal region`, a procedure's `knee right`)?"""
        return self.share("laterality") >= SIDE_CONTENT_SHARE

    def side_forms(self) -> set:
        """The forms of the English words that name a side (right, left, bilateral ...)."""
        if self._side_forms is None:
            self._side_forms = {self.lexicon.canonical(stem("en", w))
                                for facets in self.lexicon.exact.get("en", {}).values() for f in facets
                                if f.kind == "laterality" for a in f.alternatives for w in tokens(a)}
        return self._side_forms

    def procedures(self) -> bool:
        """Is this a scope of procedures (candidates that name a modality and a region)?"""
        return self.share("modality") >= PROCEDURE_SHARE and self.share("region") >= PROCEDURE_SHARE

    def rank(self, query: Query, top: int = 5) -> list[Ranked]:
        scope = self.scope
        if not scope.candidates or not tokens(query.name):
            return []
        parts = [p for p in query.parts if self.relevance(p.kind) > 0]
        lang = query.language
        forms = {f for p in parts for a in p.alternatives for f in a} | {f for p in parts for f in p.own + p.raw}
        best: dict[int, Ranked] = {}
        whole = tuple(tokens(query.name))
        bare = self._without_side(query.segments)
        weighed = self._weigh(parts, lang)
        english = " ".join(p.english for p in parts)
        assert scope.index is not None   # (made by Scope.build)
        for doc, _bm25 in deadline.bounded(scope.index.search(forms, FTS_LIMIT)):
            t = scope.texts[doc]
            if t.words == whole:
                # the name is a code of the scope: that code, unless the lexicon reads the name as what
                # another code's display says in full (the Italian `OPT` is a panoramic X-ray, not DICOM's OPT)
                code = t.text == scope.candidates[t.candidate].code
                score, said = (CODE_MATCH if code else 1.0), ["the code" if code else "the whole name"]
            elif t.words == bare:
                score, said = BARE_MATCH, ["the whole name but its side"]
            else:
                score, said, side = self._score(t, weighed, lang)
                if score <= 0:
                    continue
                similarity = fuzz.token_set_ratio(english, t.folded) / 100
                score = side * min(READ_MAX, (1 - SIMILARITY_SHARE) * score + SIMILARITY_SHARE * similarity
                                   + (PREFERRED_BONUS if t.preferred else 0))
            prev = best.get(t.candidate)
            if prev is None or score > prev.score:
                best[t.candidate] = Ranked(scope.candidates[t.candidate], round(score, 4),
                                           _why(said, t), t.text)
        ranked = sorted(best.values(), key=lambda r: (-r.score, r.candidate.n))
        if len(ranked) < top and (not ranked or ranked[0].score < FALLBACK_FACTOR):
            ranked += self._similar(query.name, top - len(ranked), {r.candidate.n for r in ranked})
        return ranked[:max(top, 0)] if top else ranked

    def _without_side(self, segments: list[Segment]) -> tuple | None:
        """The name's words without the words that only name a side (`UPPER ARM LT` -> upper arm), where
        the side is a detail of the scope's codes; None if that leaves the name as it is, or nothing."""
        if self.sides_matter():
            return None
        bare = tuple(w for s in segments if not (s.facets and all(f.kind == "laterality" for f in s.facets))
                     for w in s.words)
        return bare if bare and len(bare) < sum(len(s.words) for s in segments) else None

    def _weigh(self, parts: list[Part], lang: str) -> list[tuple]:
        """(part, [(alternative, its weight, its step down)], the part's weight) for each part, once a name:
        a part weighs its preferred meaning's rarest word in full and its other words by PHRASE_SHARE
        (`sinus veineux` -> cranial venous system says more than `cerebraux` -> brain), by how much its kind
        matters in this scope, and little if it is a word neither the lexicon nor the scope knows."""
        scope = self.scope
        out = []
        for p in parts:
            alternatives = []
            weight = 0.0
            for j, alt in enumerate(p.alternatives):
                w_alt = [scope.weight(f) for f in alt]
                if j == 0:
                    weight = max(w_alt) + PHRASE_SHARE * (sum(w_alt) - max(w_alt))
                alternatives.append((alt, sum(w_alt), 1 - ALTERNATIVE_STEP * j))
            if not weight:
                weight = max((scope.weight(stem(lang, w)) for w in p.raw), default=1.0)
            weight *= self.relevance(p.kind) * p.factor
            if p.kind == "word" and not any(w in scope.vocabulary for w in p.raw):
                weight *= UNUSED_WORD
            out.append((p, alternatives, weight))
        return out

    def _score(self, t, weighed: list[tuple], lang: str) -> tuple[float, list, float]:
        """(the harmonic mean of recall and precision of a designation for the name's parts, what it
        matched, a factor for the side). Where sides are details (see `sides_matter`), the name's side is
        no part of the recall: `Knie re.` is the knee, not anything right; a candidate that says the same
        side wins a tie (factor > 1), one of another side loses a little (< 1)."""
        scope = self.scope
        forms = set(t.forms)
        total_w = got_w = 0.0
        matched: set[str] = set()
        said: list[str] = []
        side_factor, side_detail = 1.0, not self.sides_matter()
        for p, alternatives, weight in weighed:
            best_frac, best_forms, preferred = 0.0, (), False
            for j, (alt, alt_weight, step) in enumerate(alternatives):
                hit = [f for f in alt if f in forms]
                if hit:
                    frac = sum(scope.weight(f) for f in hit) / alt_weight * step
                    if frac > best_frac:
                        best_frac, best_forms, preferred = frac, tuple(hit), j == 0
            same_language = (t.language or "en") == lang
            own = [i for i, w in enumerate(t.words) if w in p.raw or (same_language and t.forms[i] in p.own)]
            if own and p.raw:
                frac = min(1.0, len(own) / len(p.raw))
                if frac > best_frac:
                    best_frac, best_forms, preferred = frac, tuple(t.forms[i] for i in own), True
            if side_detail and p.kind == "laterality":
                if best_frac and preferred:     # `einseitig` (one side: right or left) chooses no side
                    matched.update(best_forms)
                    said.append(p.label)
                    side_factor += SIDE_BONUS
                elif forms & self.side_forms():
                    side_factor *= SIDE_MISMATCH
                continue
            total_w += weight
            if best_frac:
                got_w += weight * best_frac
                matched.update(best_forms)
                said.append(p.label)
        if not got_w or not total_w:
            return 0.0, said, side_factor
        recall = got_w / total_w
        precision = min(1.0, sum(scope.weight(f) for f in set(t.forms) if f in matched) / t.total)
        if not precision:
            return 0.0, said, side_factor
        return 2 * precision * recall / (precision + recall), said, side_factor

    def _similar(self, name: str, k: int, taken: set) -> list[Ranked]:
        """String similarity alone: the nearest designations (too few found by their words)."""
        scope = self.scope
        if k <= 0 or not scope.texts:
            return []
        choices = [t.folded for t in scope.texts]
        out = []
        for _text, sim, doc in process.extract(fold(name), choices, scorer=fuzz.WRatio, limit=k * 4):
            t = scope.texts[doc]
            if t.candidate in taken or sim < FALLBACK_CUTOFF:
                continue
            taken.add(t.candidate)
            out.append(Ranked(scope.candidates[t.candidate], round(FALLBACK_FACTOR * sim / 100, 4),
                              f"only similar in spelling to '{t.text}'", t.text))
            if len(out) >= k:
                break
        return out


def _why(said: list, t) -> str:
    lang = f" ({t.language})" if t.language else ""
    return (f"{'; '.join(said)}: matches '{t.text}'{lang}") if said else f"matches '{t.text}'{lang}"
