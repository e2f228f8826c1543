"""The multilingual lexicon: local words and abbreviations of radiology names -> English meanings.

Data, not code: `termsvc/suggest/lexicon/<language>.csv` ships with termsvc (text.LANGUAGES: es ... el,
en, la); a department adds or overrides words in `<mappings folder>/lexicon/<language>.csv` (a term
it defines in a language replaces the shipped meanings of that term there). Each file has the columns

    term,meaning,kind
    tac,computed tomography,modality
    craneo,head|skull,region          # alternatives, the first preferred
    mamografia,mammography,modality
    mamografia,breast,region          # a term may carry several kinds (a modality implies a region)

`term` is written as departments write it (case, accents and punctuation do not matter: `Rö.`,
`C-SPINE`, `izq.`); `meaning` in English words, as the code systems' English displays say it.
Kinds: modality, region, laterality, contrast, view, procedure (exam words), word (other content
words), stop (words that carry nothing), same (English only: two words that mean one thing on both
sides of a match, e.g. `abdominal,abdomen`), plane (a plane of vendor protocol names that is also a
word with a meaning, `cor`: a plane beside a protocol word, `t1_se_cor`; else what the word means). Lines starting with `#` are comments.

Segmenting a name: the longest run of words found in the lexicon wins (exact, else by Snowball
stem), trying the name's language first, then the others; a word found nowhere may be a compound of
lexicon words (`Nierenarterie` -> niere + arterie, `ABDOMENPELVIS` -> abdomen + pelvis), a misspelling of one
(rapidfuzz), or a word the target code system itself uses (kept as it is).
"""
from __future__ import annotations

import bisect
import csv
import io
import os
from dataclasses import dataclass, field
from importlib import resources

from termsvc.suggest.spelling import FUZZY_MIN_LENGTH, misspelt
from termsvc.suggest.text import ENDINGS, FINDING_COMPOUNDS, LANGUAGES, language_code, stem, tokens

KINDS = ("modality", "region", "laterality", "contrast", "view", "procedure", "word", "stop", "same", "plane")
FOLDER = "lexicon"            # the department's lexicon: a folder of this name in a mappings folder
MAX_TERM_WORDS = 6
PREFIX_MIN_LENGTH = 4         # a shorter word is not read as the beginning of a longer one (`gen`)
STEMMED_MIN_LENGTH = 4        # a shorter term (an abbreviation) is found only as written, not by its stem
SHORT_WORD = 2                # words this short are read only in the name's language (or English)
COMPOUND_MIN_LENGTH = 7
HEAD_MIN_LENGTH = 6           # the shortest last part a compound is known by when its first part is not
REGION_PART_MIN_LENGTH = 4    # a region that opens a compound naming a finding (`Knie|erguss`)
FINDING_MIN_LENGTH = 5        # the shortest rest of such a compound (an ending is no finding)
ENDING_MAX_LENGTH = 3         # after a part known by its stem, a shorter rest is its ending
STOP_PART_MIN_LENGTH = 5      # the shortest stop word a compound may begin with (it adds nothing)
LINKS = ("", "s", "n", "en", "es", "e", "er")   # German/Dutch linking elements between compound parts
CUT_AT = 64                   # DICOM's LO (the descriptions): a name this long may end cut short (`MEZZO DI CO`)
CUT_SHORT_AT = 16             # DICOM's SH (worklists and RIS fields): a name of just this length may too (`MRI CERVICAL SPI`)


class LexiconError(ValueError):
    """A lexicon file that cannot be read: its path and line."""


@dataclass(frozen=True, slots=True)
class Facet:
    """One meaning of a term: its kind and English alternatives (preferred first)."""
    kind: str
    alternatives: tuple
    language: str
    term: str
    source: str          # where it is written: `es.csv:12` (shipped) or the department file's path and line


@dataclass(slots=True)
class Segment:
    """A run of a name's words and what the lexicon makes of it (no facets: a word it does not know)."""
    words: tuple
    facets: list = field(default_factory=list)
    how: str = "exact"           # exact | stem | plural | joined | compound | prefix | fuzzy | unknown
    corrected: str | None = None  # the lexicon word a misspelling was read as, the target's word a plural was

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def kinds(self) -> set:
        return {f.kind for f in self.facets}


def _read_rows(text: str, source: str, language: str, department: bool = False):
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip().lower() for h in next(reader, [])]
    if header[:3] != ["term", "meaning", "kind"]:
        raise LexiconError(f"{source}: the header must be term,meaning,kind")
    for n, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 3:
            raise LexiconError(f"{source}: line {n}: three cells expected (term,meaning,kind)")
        term, meaning, kind = (c.strip() for c in row[:3])
        if kind not in KINDS:
            raise LexiconError(f"{source}: line {n}: unknown kind '{kind}' (one of {', '.join(KINDS)})")
        if not tokens(term) or (kind not in ("stop", "plane") and not meaning):
            raise LexiconError(f"{source}: line {n}: a term and its meaning are needed")
        yield language, term, meaning, kind, f"{source}:{n}", department


def shipped_rows():
    folder = resources.files("termsvc.suggest").joinpath(FOLDER)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv"):
            yield from _read_rows(entry.read_text(encoding="utf-8"), entry.name, entry.name[:-4])


def department_rows(folders):
    """The lexicon files of the mappings folders (`<folder>/lexicon/<language>.csv`)."""
    for folder in folders:
        d = os.path.join(folder, FOLDER)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.lower().endswith(".csv") and not name.startswith("."):
                path = os.path.join(d, name)
                with open(path, encoding="utf-8-sig") as f:
                    yield from _read_rows(f.read(), path, language_code(name[:-4]) or "", True)


class Lexicon:
    def __init__(self, rows):
        self.exact: dict = {}      # language -> {word tuple: [Facet]}
        self.stemmed: dict = {}    # language -> {stem tuple: [Facet]}
        self.single: dict = {}     # language -> [single-word terms] (for compounds and misspellings)
        self.same: dict = {}       # English stem -> the stem it means the same as
        self.planes: dict = {}     # word tuple -> its stop facet, where it stands among protocol words
        owned = set()     # (language, words) a department's file defines: the shipped meanings give way
        for language, term, meaning, kind, source, department in rows:
            words = tuple(tokens(term))
            if department:
                owned.add((language, words))
            elif (language, words) in owned:
                continue
            if kind == "same":
                for w, m in zip(tokens(term), [tokens(meaning)[0]] * len(words)):
                    self.same[stem("en", w)] = stem("en", m)
                continue
            if kind == "plane":
                self.planes[words] = Facet("stop", (), language, term, source)
                continue
            alternatives = tuple(a.strip() for a in meaning.split("|") if a.strip())
            facet = Facet(kind, alternatives, language, term, source)
            facets = self.exact.setdefault(language, {}).setdefault(words, [])
            if any(f.kind == kind and f.alternatives == alternatives for f in facets):
                continue      # the same meaning written twice
            facets.append(facet)
            if len(words) > 1 or len(words[0]) >= STEMMED_MIN_LENGTH:   # `bil` (bilateral) is no stem of `biliare`
                key = tuple(stem(language, w) for w in words)
                by_stem = self.stemmed.setdefault(language, {}).setdefault(key, [])
                if not any(f.kind == kind and f.alternatives == alternatives for f in by_stem):
                    by_stem.append(facet)
            if len(words) == 1 and len(words[0]) >= 3:
                self.single.setdefault(language, set()).add(words[0])
        self.single = {lang: sorted(ws) for lang, ws in self.single.items()}
        self._single_sets: dict = {}
        self._phrases_without_stops()
        self.negators = self._negators()
        self.meaning_words = {w for d in self.exact.values() for fs in d.values() for f in fs for a in f.alternatives
                              for w in tokens(a)}     # the English words of every meaning: a whole word, never cut
        # stop words that open a contrast phrase (`mit KM`, `con contraste`): they say something there
        self.contrast_openers = {words[0] for language, terms in self.exact.items() for words, facets in terms.items()
                                 if len(words) > 1 and any(f.kind == "contrast" for f in facets)
                                 and self.is_stop(words[0], [language])}
        self.max_words = min(MAX_TERM_WORDS, max((len(k) for d in self.exact.values() for k in d), default=1))

    def _phrases_without_stops(self) -> None:
        """A phrase is also known without its stop words (`dita del piede` is also `dita piede`, `crosse de l
        aorte` also `crosse aorte`), as departments shorten them - but a contrast phrase keeps the little words
        that say with or without (`sin y con gadolinio` is no `sin gadolinio`, `mit und ohne KM` is `mit/ohne KM`)."""
        for language, terms in self.exact.items():
            stops = {w[0] for w, facets in terms.items() if len(w) == 1 and any(f.kind == "stop" for f in facets)}
            openers = {w[0] for w, facets in terms.items() if len(w) > 1 and any(f.kind == "contrast" for f in facets)}
            for words, facets in list(terms.items()):
                dropped = stops - openers if any(f.kind == "contrast" for f in facets) else stops
                short = tuple(w for w in words if w not in dropped)
                if 1 < len(short) < len(words) and short not in terms:
                    terms[short] = facets
                    self.stemmed.setdefault(language, {}).setdefault(tuple(stem(language, w) for w in short), facets)

    def _negators(self) -> dict:
        """language -> {word: facets}: the words that turn a contrast word into its absence, learnt from
        the lexicon's own phrases (`sin contraste` is without contrast where `contraste` is with it: `sin`
        negates, so `sin gadolinio` is without contrast too, and `non injectee` where `non contrast` is)."""
        out: dict = {}
        for language, terms in self.exact.items():
            for words, facets in terms.items():
                without = [f for f in facets if f.kind == "contrast" and _absent(f)]
                rest = terms.get(words[1:]) if len(words) > 1 else None
                if without and rest and any(f.kind == "contrast" and not _absent(f) for f in rest):
                    out.setdefault(language, {}).setdefault(words[0], without)
        return out

    def negated(self, words: tuple, languages: list[str]):
        """The facets of a negator and the contrast word it negates (`ohne Gadolinium`), or None."""
        if len(words) < 2:
            return None
        # only the name's language's negators, or English's: the Italian `sin.` (left) is no Spanish `sin`
        for lang in dict.fromkeys(languages[:1] + ["en"]):
            facets = self.negators.get(lang, {}).get(words[0])
            if facets and len(words) > 2 and (words[1] in self.contrast_openers or _says_with(
                    self.lookup(words[1:2], languages)[0])):
                return None   # a phrase of its own follows (`ohne/mit KM`, `wo/w contrast`: with and without)
            if facets:
                rest, _how, _lang = self.lookup(words[1:], languages)
                if rest and all(f.kind == "contrast" for f in rest) and not any(_absent(f) for f in rest):
                    return facets
                return None
        return None

    @classmethod
    def load(cls, folders=()) -> Lexicon:
        """The shipped lexicon and the departments' files of these mappings folders: a term a department
        defines (in a language) means what the department says, not what the shipped file says."""
        return cls(list(department_rows(folders)) + list(shipped_rows()))

    def canonical(self, english_stem: str) -> str:
        return self.same.get(english_stem, english_stem)

    # -- a name's language ---------------------------------------------------------------
    def detect(self, words: list[str]) -> list[str]:
        """The languages to read the words in, best first: the lexicon that knows most of them
        (ties keep LANGUAGES' order; English, then the rest, follow)."""
        scores = {}
        for lang in self.exact:
            known = 0
            for w in words:
                if (w,) in self.exact[lang] or (stem(lang, w),) in self.stemmed.get(lang, {}):
                    known += 1
            for n in range(2, min(self.max_words, len(words)) + 1):   # phrases count once more
                known += sum(1 for i in range(len(words) - n + 1) if tuple(words[i:i + n]) in self.exact[lang])
            scores[lang] = known
        order = {lang: i for i, lang in enumerate(LANGUAGES)}
        return sorted(self.exact, key=lambda lang: (-scores[lang], order.get(lang, len(order)), lang))

    def order(self, language: str | None, words: list[str]) -> list[str]:
        """The language given first (then English, then the others), else the detected order."""
        if not language or language not in self.exact:
            return self.detect(words)
        rest = [lang for lang in self.detect(words) if lang != language]
        return [language] + rest

    # -- segmenting ----------------------------------------------------------------------
    def lookup(self, words: tuple, languages: list[str]):
        """(facets, how, language) of the first language that knows this run of words, exactly or by stem.
        A word of one or two letters is read only in the name's language or in English: another language's
        abbreviation of that length is a guess (the Polish `p` for right is the `p` of a German `a.p.`)."""
        short = len(words) == 1 and len(words[0]) <= SHORT_WORD
        others = [lang for lang in languages[1:] if not short or lang == "en"]
        # the name's language in every way first; then the others as written, by stem, as plurals
        for how, langs in (("exact", languages[:1]), ("stem", languages[:1]), ("plural", languages[:1]),
                           ("exact", others), ("stem", others), ("plural", others)):
            for lang in langs:
                facets = self._find(how, lang, words)
                if facets:
                    return facets, how, lang
        return None, None, None

    def _find(self, how: str, lang: str, words: tuple):
        if how == "exact":
            return self.exact.get(lang, {}).get(words)
        if how == "stem":
            return self.stemmed.get(lang, {}).get(tuple(stem(lang, w) for w in words))
        if len(words) == 1:
            for singular in singulars(lang, words[0]):
                if len(singular) < STEMMED_MIN_LENGTH and words[0] != singular + "s":
                    continue        # an abbreviation's plural is only an s (`SIJs`; `tse` is no `tsa`)
                facets = self.exact.get(lang, {}).get((singular,))
                if facets:
                    return facets
        return None

    def segment(self, words: list[str], languages: list[str], known=lambda w: False,
                guess: bool = True, nearest=lambda w: None) -> list[Segment]:
        """The segments of a name's folded words. `known(word)`: the target code system uses this word itself
        (it is then not read as a misspelling); `nearest(word)`: the target's own word it is a misspelling of,
        if any. `guess`: read words the lexicon lacks as compounds or misspellings (else they stay unknown)."""
        out: list[Segment] = []
        i, n = 0, len(words)
        while i < n:
            found = None
            for length in range(min(self.max_words, n - i), 0, -1):
                run = tuple(words[i:i + length])
                facets, how, _lang = self.lookup(run, languages)
                if not facets and length > 2:     # a phrase with stop words inside (`TAC DE CRANEO`; but
                    # not a word that opens a contrast phrase: `ohne/mit KM` is no `ohne KM`)
                    inner = tuple(w for w in run[1:-1] if not self.is_stop(w, languages[:1]))
                    if len(inner) < length - 2 and self.contrast_openers.isdisjoint(run[1:-1]):
                        facets, how, _lang = self.lookup(run[:1] + inner + run[-1:], languages)
                if not facets:
                    facets, how = self.negated(run, languages), "exact"
                if facets and length == 1 and how == "stem" and _lang != languages[0] and not _content(facets):
                    # another language's stop word by its stem is a guess: a misspelling in the name's language
                    # says more (`cadrera` is the Spanish cadera, not the French `cadre`)
                    corrected = self.correct(run[0], languages[:1]) if guess else None
                    if corrected:
                        found = Segment(run, list(self.lookup((corrected,), languages[:1])[0]), "fuzzy", corrected)
                        break
                if facets:
                    found = Segment(run, list(facets), how)
                    break
                if length == 2 and min(len(words[i]), len(words[i + 1])) >= 3:
                    # a compound written in two (`sterno-claveari`, `sacro iliacale`), known as written
                    facets, how, _lang = self.lookup((words[i] + words[i + 1],), languages)
                    if facets and how != "stem":
                        found = Segment(tuple(words[i:i + 2]), list(facets), "joined")
                        break
            if found is None:
                found = (self._unknown(words[i], languages, known, nearest) if guess
                         else Segment((words[i],), [], "unknown"))
            out.extend(found if isinstance(found, list) else [found])
            i += len(found[0].words) if isinstance(found, list) else len(found.words)
        out = self._planes_among_protocol_words(out)
        return self._phrases_in_english(self._phrases_misspelt(out, languages)) if guess else out

    def _planes_among_protocol_words(self, segments: list[Segment]) -> list[Segment]:
        """A plane word beside a protocol word (a stop word or a number: `t1_se_cor`, `cor_3mm`; or a contrast
        word where the name says another region: `Sella^dyn_KM_cor`) is the plane of a sequence, no part of a
        code; alone or among content words it keeps its meaning (`cor`, `Thorax Cor Pulmo`, `MRT Cor KM`)."""
        regions = sum(1 for s in segments if "region" in s.kinds())

        def protocol(i: int) -> bool:
            s = segments[i] if 0 <= i < len(segments) else None
            kinds = s.kinds() if s else set()
            return s is not None and (kinds == {"stop"} or (kinds == {"contrast"} and regions > 1)
                                      or (not kinds and any(c.isdigit() for c in s.text)))
        return [Segment(s.words, [self.planes[s.words]], "exact") if s.words in self.planes
                and (protocol(i - 1) or protocol(i + 1)) else s for i, s in enumerate(segments)]

    def _phrases_in_english(self, segments: list[Segment]) -> list[Segment]:
        """A region word of several meanings next to a modality word (stop words between) means what
        the English phrase of their meanings says, when the lexicon has one that chooses among the
        word's own meanings (or names what the modality sees there), in any language and either order:
        `computed tomography skull` is the head, so `CT crane`, `CT cranio nativa`, `Schadel-CT` and `IRM du
        crane` (skull|head) are the head, while `Rx crane` stays the skull, and so does the English `CT skull`
        (one meaning); `ultrasound skull` is the brain (`Schadelsonographie`, `Sono Schadel`, `Eco cranio`)."""
        english = self.exact.get("en", {})
        content = [i for i, s in enumerate(segments) if not (s.facets and all(f.kind == "stop" for f in s.facets))]
        merged: dict = {}     # index of the first segment -> (index of the last, the facets)
        for a, b in zip(content, content[1:]):
            if a in merged or any(a <= i <= b for i, _ in merged.values()):
                continue
            pair = (segments[a], segments[b])
            modal = [s for s in pair if "modality" in s.kinds()]
            region = [s for s in pair if "region" in s.kinds() and "modality" not in s.kinds()]
            if len(modal) != 1 or len(region) != 1:
                continue
            m_alts = [f.alternatives[0] for f in modal[0].facets if f.kind == "modality"]
            r_alts = [alt for f in region[0].facets if f.kind == "region" for alt in f.alternatives]
            for m in m_alts:
                facets = next((english[w] for r in r_alts for w in ((*m.split(), *r.split()), (*r.split(), *m.split()))
                               if _chooses(english.get(w, ()), r_alts)), None)
                if facets:
                    kept = [f for s in pair for f in s.facets if f.kind != "region"]
                    merged[a] = (b, kept + [f for f in facets if f.kind == "region"])
                    break
        if not merged:
            return segments
        out, i = [], 0
        while i < len(segments):
            if i in merged:
                b, facets = merged[i]
                out.append(Segment(tuple(w for s in segments[i:b + 1] for w in s.words), facets, "exact"))
                i = b + 1
            else:
                out.append(segments[i])
                i += 1
        return out

    def _phrases_misspelt(self, segments: list[Segment], languages: list[str]) -> list[Segment]:
        """A lexicon phrase one of whose words was misspelt (`vesicula bilar`: the gallbladder, not the
        vesicle and the bile duct), read as the phrase with the word corrected in the name's language (a
        misspelling may have been read by its stem in another language: `bilar` as the Italian biliare)."""
        guessed = ("stem", "fuzzy")
        if not any(s.how in guessed for s in segments):
            return segments
        out: list[Segment] = []
        i = 0
        while i < len(segments):
            merged = None
            for length in range(min(self.max_words, len(segments) - i), 1, -1):
                run = segments[i:i + length]
                if not any(s.how in guessed for s in run) or \
                        any(len(s.words) != 1 or s.how not in ("exact", "plural") + guessed for s in run):
                    continue
                words = tuple((s.corrected if s.how == "fuzzy" else self.correct(s.words[0], languages[:1]))
                              or s.words[0] if s.how in guessed else s.words[0] for s in run)
                facets, _how, _lang = self.lookup(words, languages)
                if facets:
                    merged = Segment(tuple(s.words[0] for s in run), list(facets), "fuzzy", " ".join(words))
                    break
            out.append(merged or segments[i])
            i += len(merged.words) if merged else 1
        return out

    def complete_cut(self, words: list[str], languages: list[str]) -> tuple | None:
        """The words the last one was cut from, when a name was cut at its field's length (`mezzo di co` ->
        contrasto, `imagerie par res` -> resonance magnetique): the rest of a lexicon term that says something
        (`spi` is no `SPIR` sequence) one of whose words begins with it, the words before it in the term ending
        the name; of the terms that say most of the name and add fewest words to it, in the first language that
        has one, if all their readings mean one thing."""
        cut = words[-1] if words else ""
        facets, how, lang = self.lookup((cut,), languages)
        if not cut.isalpha() or cut in self.meaning_words or (facets and (how != "stem" or lang == languages[0])):
            return None       # a word read is whole, but by another language's stem (`rec`: the Polish rece, hands)
        for lang in languages:
            found: dict = {}      # (words of the name the term says, -words it adds) -> {its rest: its meanings}
            for term, facets in self.exact.get(lang, {}).items():
                for k in range(1, min(len(term), len(words)) + 1):
                    if (term[k - 1].startswith(cut) and len(term[k - 1]) > len(cut) and (k > 1 or len(cut) >= 3)
                            and term[:k - 1] == tuple(words[len(words) - k:-1]) and _content(facets)):
                        found.setdefault((k, k - len(term)), {}).setdefault(term[k - 1:], set()).update(
                            (f.kind, f.alternatives) for f in facets)
            if found:
                longest = found[max(found)]
                meanings = {frozenset(m) for m in longest.values()}
                return next(iter(longest)) if len(longest) == 1 or len(meanings) == 1 else None
        return None

    def is_stop(self, word: str, languages: list[str]) -> bool:
        """A stop word (also one that may be a side, the Portuguese `e`: see rank.read)."""
        facets, _how, _lang = self.lookup((word,), languages)
        kinds = {f.kind for f in facets or ()}
        return "stop" in kinds and kinds <= {"stop", "laterality"}

    def _unknown(self, word: str, languages: list[str], known, nearest=lambda w: None):
        if word.isdigit() or len(word) < 2 or known(word):
            return Segment((word,), [], "unknown")
        for singular in (s for lang in dict.fromkeys(languages[:1] + ["en"]) for s in singulars(lang, word)):
            if known(singular):        # `feet`: the target says `foot`
                return Segment((word,), _own_word(singular), "plural", singular)
        parts = self.compound(word, languages, known)
        if parts:
            segs = [Segment((word,), list(facets), "compound") for facets in parts]
            return segs
        # (not in English: its lexicon lists only what the targets' English words lack - `knee` begins
        # no `kneecap` there)
        whole = self.complete(word, languages[0]) if languages and languages[0] != "en" else None
        if whole:                      # `ELLENB.`, `UNTERSCH.`, `POIGN`: a word cut short
            facets, _how, _lang = self.lookup((whole,), languages[:1])
            return Segment((word,), list(facets), "prefix", whole)
        corrected = self.correct(word, languages)
        if corrected:
            facets, _how, _lang = self.lookup((corrected,), languages)
            return Segment((word,), list(facets), "fuzzy", corrected)
        own = nearest(word) if len(word) >= FUZZY_MIN_LENGTH and word.isalpha() else None
        if own:                        # `clavical`: the target says `clavicle`
            return Segment((word,), _own_word(own), "fuzzy", own)
        region = _region_of_finding(self, word, languages) if languages and languages[0] in FINDING_COMPOUNDS else None
        if region:                     # `Lungenembolie`, `lungemboli`, `keuhkoembolia`: a finding of the lung
            return Segment((word,), list(region), "compound")
        return Segment((word,), [], "unknown")

    def compound(self, word: str, languages: list[str], known=lambda w: False) -> list | None:
        """The facets of the parts of a compound (`halswirbelsaule` -> hals + wirbelsaule; the DICOM
        defined term `abdomenpelvis` -> abdomen + pelvis; `cspine` -> the phrase `c spine`), or None.
        A part may also be a word the target code system uses (`known`)."""
        if len(word) < COMPOUND_MIN_LENGTH - 1:
            return None
        parts = _split(self, word, tuple(languages), known)
        if parts:
            return parts
        # the last part names what it is (`subtraktions|angiographie`; a stop word nothing: `Knie|schmerzen`)
        for cut in range(COMPOUND_MIN_LENGTH - 4, len(word) - HEAD_MIN_LENGTH + 1):
            facets = _content(self.lookup((word[cut:],), list(languages))[0])
            if facets:
                return [facets]
        return None

    def complete(self, word: str, lang: str) -> str | None:
        """The word of the lexicon (in the name's language) this one is the beginning of, when the words
        it may begin (the shortest of each family: `ellenbogen`, not also `ellenbogengelenk`) all mean the
        same; None for a word of fewer than PREFIX_MIN_LENGTH letters."""
        if len(word) < PREFIX_MIN_LENGTH or not word.isalpha():
            return None
        words = self.single.get(lang, [])
        i = bisect.bisect_right(words, word)
        begun: list[str] = []
        while i < len(words) and words[i].startswith(word):
            if not any(words[i].startswith(b) for b in begun):
                begun.append(words[i])
            i += 1
        meanings = {frozenset((f.kind, f.alternatives[0]) for f in self.exact[lang][(w,)] if f.alternatives)
                    for w in begun}
        return begun[0] if len(meanings) == 1 and frozenset() not in meanings else None

    def correct(self, word: str, languages: list[str]) -> str | None:
        """The lexicon word this one is a misspelling of (in the first language that has one)."""
        for lang in languages[:3]:
            words = self._single_sets.get(lang)
            if words is None:
                words = self._single_sets[lang] = set(self.single.get(lang, ()))
            found = misspelt(word, words, self.single.get(lang, ()))
            if found:
                return found
        return None


# plural endings -> singular endings, per language (what Snowball's stems leave apart: ureteres/ureter)
PLURALS = {"es": (("es", ""), ("s", "")), "pt": (("oes", "ao"), ("es", ""), ("s", "")),
           "it": (("chi", "co"), ("che", "ca"), ("ghi", "go"), ("ghe", "ga"), ("i", "o"), ("i", "e"), ("e", "a")),
           "fr": (("aux", "al"), ("s", ""), ("x", "")),
           "en": (("ies", "y"), ("ices", "ex"), ("ces", "x"), ("eeth", "ooth"), ("eet", "oot"), ("ae", "a"), ("ia", "ium"),
                  ("es", ""), ("s", "")),
           "de": (("en", ""), ("n", ""), ("e", ""), ("s", "")), "nl": (("eren", ""), ("en", ""), ("s", "")),
           "la": (("ae", "a"), ("es", "is"), ("i", "us")), **ENDINGS}


def singulars(language: str, word: str) -> list[str]:
    """The singulars a plural word may have in a language (`ureteres` -> `ureter`, `anche` -> `anca`)."""
    return [word[:-len(p)] + s for p, s in PLURALS.get(language, ())
            if word.endswith(p) and len(word) - len(p) + len(s) >= 3]


def _chooses(facets, meanings: list) -> bool:
    """Do these (an English phrase's) facets name a region, for a word of several meanings? (One of them,
    `computed tomography skull`: the head; or what the modality sees there, `ultrasound skull`: the brain.)"""
    return any(f.kind == "region" for f in facets) and len(meanings) > 1


def _says_with(facets) -> bool:
    """Do these facets say that contrast is given (`w`, `con`)?"""
    return bool(facets) and any(f.kind == "contrast" and not _absent(f) for f in facets)


def _absent(facet: Facet) -> bool:
    """A contrast meaning that says none was given (`without contrast`)."""
    return facet.alternatives[0].split()[0] == "without"


def _own_word(word: str) -> list:
    return [Facet("word", (word,), "en", word, "the target's own word")]


def _content(facets):
    """The facets of a word that can be a part of a compound: not a stop word (`for` + `arm` is no forarm)."""
    return facets if facets and not all(f.kind == "stop" for f in facets) else None


def _region_of_finding(lex: Lexicon, word: str, languages: list[str]) -> list | None:
    """The facets of the region that opens a word read no other way (German, Dutch, Nordic): a compound of a region
    and a word the lexicon lacks or a stop word names a finding of that region (`Lungen|embolie`, `Knie|erguss`,
    `buik|pijn`; a short rest is else an ending); the longest region that opens it."""
    for cut in range(len(word) - 3, REGION_PART_MIN_LENGTH - 1, -1):
        head = word[:cut]
        if len(word) - cut < FINDING_MIN_LENGTH and not lex.is_stop(word[cut:], languages):
            continue
        for link in LINKS:
            if not head.endswith(link) or len(head) - len(link) < REGION_PART_MIN_LENGTH:
                continue
            facets, how, _lang = lex.lookup((head[:len(head) - len(link)],), languages)
            if how != "stem" and facets and all(f.kind == "region" for f in facets):
                return facets
    return None


def _split(lex: Lexicon, word: str, langs: tuple, known, depth: int = 0, near: tuple = ()):
    """Greedy longest-first split of a compound into lexicon words (a linking element after each part but the last;
    a short first part may join the next, `c` + `spine`; no later part by a stem not `near`, `mell|kass`), or None."""
    if depth > 3:
        return None
    found, how, lang = lex.lookup((word,), list(langs))
    facets = _content(found if not near or how == "exact" or lang in near else None)
    if depth and (facets or known(word)):
        return [facets or _own_word(word)]
    for cut in range(len(word) - 3, 0, -1):
        head, tail = word[:cut], word[cut:]
        phrase, _how, _lang = lex.lookup((head, tail), list(langs))
        if phrase:
            return [phrase]
        if cut < 3:
            continue
        for link in LINKS:
            if link and not head.endswith(link):
                continue
            stem_part = head[:len(head) - len(link)] if link else head
            if len(stem_part) < 3:
                continue
            found, how, lang = lex.lookup((stem_part,), list(langs))
            if how == "stem" and len(tail) <= ENDING_MAX_LENGTH:   # a word's stem and its ending are no
                found = None                                       # compound (`aort|ica`: aortica)
            facets = _content(found)
            # a word about the patient or the setting opens a compound and says nothing (`Säuglings|hüfte`,
            # `Kinder|knie`); a short stop word does not (`for` + `arm` is no forarm)
            context = not facets and found is not None and len(stem_part) >= STOP_PART_MIN_LENGTH
            if not facets and not context and not (link == "" and known(stem_part)):
                continue
            rest = _split(lex, tail, langs, known, depth + 1, near or (lang, langs[0], "en", "la"))
            if rest:
                return rest if context else [facets or _own_word(stem_part)] + rest
    return None
