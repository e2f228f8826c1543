"""The candidates of a target scope: its codes as the engine's $expand lists them, with every
designation in every language loaded, and an index of their words.

    scope = Scope.of(store, target_scope=url)            # or target_system=... (all its codes)
    scope.candidates, scope.message                     # message: why the list is incomplete or empty

The expansion is the engine's own (ops.expand, as a request would get it): a value set over a
release that is not loaded gives what the build holds, and `message` says what is missing and what
to load (the engine's words); a scope that cannot be expanded at all gives no candidates and says why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Param, Params
from termsvc.ops.context import Context
from termsvc.ops.expand import expand
from termsvc.results import Entry
from termsvc.store.textindex import TextIndex
from termsvc.suggest.text import fold, language_code, stem, strip_semantic_tag, tokens

ENGLISH_STOP = frozenset({"of", "and", "or", "the", "with", "without", "by", "for", "to", "in", "on", "a", "an",
                          "structure", "entire", "nos"})


@dataclass(slots=True)
class Candidate:
    system: str
    code: str
    display: str
    texts: list            # [(text, language or None)]: the display, then every designation
    n: int = 0             # its position in the scope


@dataclass(slots=True)
class Text:
    """One designation of a candidate as the ranker sees it."""
    candidate: int
    text: str
    language: str | None
    words: tuple           # folded words
    forms: tuple           # one canonical form per word: its English (or own-language) stem
    preferred: bool        # the code's display
    folded: str = ""       # the text folded (for string similarity)
    total: float = 0.0     # the weight of all its forms


@dataclass
class Scope:
    url: str | None
    system: str | None
    candidates: list = field(default_factory=list)
    message: str | None = None         # the expansion is incomplete, or could not be made
    texts: list = field(default_factory=list)
    df: dict = field(default_factory=dict)
    index: TextIndex | None = None
    vocabulary: set = field(default_factory=set)
    by_code: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    @classmethod
    def of(cls, store, target_scope: str | None = None, target_system: str | None = None,
           max_size: int | None = None, canonical=lambda s: s) -> Scope:
        scope = cls(target_scope, target_system)
        scope.candidates, scope.message = expand_scope(store, target_scope, target_system, max_size)
        scope.build(canonical)
        return scope

    @classmethod
    def from_candidates(cls, candidates: list, canonical=lambda s: s, url: str | None = None) -> Scope:
        scope = cls(url, None, candidates)
        scope.build(canonical)
        return scope

    def build(self, canonical) -> None:
        """The designations' words and forms, their document frequency, and the FTS index."""
        for i, c in enumerate(self.candidates):
            c.n = i
            self.by_code.setdefault((c.system, c.code), c)
            seen = set()
            for k, (text, lang) in enumerate(c.texts):
                text = strip_semantic_tag(text)
                key = (text.lower(), lang)
                if not text or key in seen:
                    continue
                seen.add(key)
                words = tuple(tokens(text))
                forms = tuple(canonical(stem(lang, w)) if (lang or "en") == "en" else stem(lang, w) for w in words)
                self.texts.append(Text(i, text, lang, words, forms, k == 0, fold(text)))
        for t in self.texts:
            for f in set(t.forms):
                self.df[f] = self.df.get(f, 0) + 1
            self.vocabulary.update(t.words)
        for t in self.texts:
            t.total = sum(self.weight(f) for f in set(t.forms)) or 1.0   # (`vertebral column`: spine once)
        self.index = TextIndex()
        self.index.add_many((i, " ".join(t.forms)) for i, t in enumerate(self.texts))

    def candidate(self, system: str, code: str) -> Candidate | None:
        return self.by_code.get((system, code))

    def weight(self, form: str) -> float:
        """How much a word says: its inverse document frequency among the designations (a stop word little)."""
        w = self.weights.get(form)
        if w is None:
            w = self.weights[form] = 0.05 if form in ENGLISH_STOP else \
                1.0 + math.log((1 + len(self.texts)) / (1 + self.df.get(form, 0)))
        return w

    def close(self) -> None:
        if self.index is not None:
            self.index.close()


def code_system_display(ctx: Context, entry: Entry) -> str | None:
    """The code system's own display of an expansion entry: a value set may show another (DICOM's CID 4
    shows 32849002 as `Endo-esophageal`, the code system names it `Esophagus`); both are its names."""
    cs = ctx.code_system(entry.system, entry.version)
    concept = cs.find(entry.code)[0] if cs is not None and entry.code is not None else None
    return concept.display if concept is not None else None


def expand_scope(store, target_scope: str | None, target_system: str | None,
                 max_size: int | None) -> tuple[list, str | None]:
    """(candidates, message) from the engine's expansion of the scope (or of the whole code system)."""
    ctx = Context(store)
    params = [Param("includeDesignations", "valueBoolean", True), Param("excludeNested", "valueBoolean", True)]
    if target_scope:
        if ctx.value_set(target_scope) is None:
            return [], (f"the target scope {target_scope} is not loaded: build with the package or file that"
                        " holds this value set")
        params.append(Param("url", "valueUri", target_scope))
        what = f"the target scope {target_scope}"
    elif target_system:
        vs = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": target_system}]}}
        params.append(Param("valueSet", None, None, resource=vs))
        what = f"the target code system {target_system}"
    else:
        return [], "the table names no target_scope and no target_system: nothing to choose candidates from"
    try:
        expansion = expand(ctx, Params(params), max_size=max_size)
    except OpError as e:
        return [], f"{what} cannot be expanded: {e.text}"
    candidates = []
    for c in expansion.codes():
        if c.code is not None and c.system is not None and not c.abstract and not c.inactive:
            texts: list[tuple[str, str | None]] = [(c.display or "", None)]
            own = code_system_display(ctx, c)
            if own and own != texts[0][0]:
                texts.append((own, None))
            texts += [(d.get("value") or "", language_code(d.get("language"))) for d in c.designations or []]
            texts.append((c.code, None))
            candidates.append(Candidate(c.system, c.code, c.display or c.code, texts))
    message = None
    if expansion.unclosed:
        reason = expansion.unclosed_reason
        message = (f"{what} is incomplete in this build ({len(candidates)} codes found): {reason}" if candidates
                   else f"{what} cannot be expanded in this build: {reason}")
    elif not candidates:
        message = f"{what} has no codes in this build"
    return candidates, message
