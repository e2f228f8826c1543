"""Suggestions for the rows of a mapping table (or for any local names) against a target scope.

    suggester = Suggester(store, Lexicon.load(folders), Evidence(tables), max_size=10_000)
    asked, why_not = to_suggest(table, store, resources)   # its rows without a target, its catalogue's codes
    suggester.table(table, asked)            # without a row: {"table": NAME, "rows": [...]} (issue 19's shape)
    suggester.row(suggester.ranker(scope, None), 1, "", "TC craneo")   # any name

A row's candidates: the ranking of its name (rank.py) in its table's target scope; for a scope of
procedures (candidates that name a modality and a region), agreement of the parsed parts of the name
and of each candidate re-orders the best ones (as RELMA does); then the accepted and rejected rows of
the loaded tables (evidence.py). A row whose scope is incomplete or cannot be expanded says so
(`message`) - never an empty list without a word.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from termsvc.mappings.lint import codes_without_rows
from termsvc.mappings.reading import row_json
from termsvc.suggest.candidates import Scope
from termsvc.suggest.evidence import Evidence
from termsvc.suggest.parts import NO_PARTS, Parser
from termsvc.suggest.rank import Ranked, Ranker, read
from termsvc.suggest.text import fold, language_code

DEFAULT_TOP = 5
AGREEMENT_POOL = 30           # the best candidates whose parts are compared with the name's
REJECTED_FACTOR = 0.4
# the languages of the EU (ISO 639-1), and as their speakers name them (a sheet per language)
EU_LANGUAGES = frozenset("bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv".split())
LANGUAGE_NAMES = {"deutsch": "de", "english": "en", "espanol": "es", "castellano": "es", "francais": "fr",
                  "italiano": "it", "nederlands": "nl", "vlaams": "nl", "polski": "pl", "portugues": "pt",
                  "svenska": "sv", "dansk": "da", "suomi": "fi", "cesky": "cs", "cestina": "cs", "magyar": "hu",
                  "ellinika": "el"}
LANGUAGE_COLUMNS = ("language", "lang", "idioma", "sprache", "langue", "lingua", "taal", "jezyk", "sprak", "sprog",
                    "kieli", "jazyk", "nyelv", "glossa")


def coding(c) -> dict:
    return {"system": c.system, "code": c.code, "display": c.display}


def agreement(name_parts: dict, candidate_parts: dict) -> tuple[float, list]:
    """(factor, notes): parts both name, equal (a little more) or different (less)."""
    factor, notes = 1.0, []
    for part, same, differ in (("modality", 1.05, 0.6), ("region", 1.05, 0.8), ("laterality", 1.02, 0.85)):
        a, b = name_parts.get(part), candidate_parts.get(part)
        if a and b:
            if a["code"] == b["code"]:
                factor *= same
                notes.append(f"same {part} ({a['display']})")
            else:
                factor *= differ
                notes.append(f"other {part} ({b['display']}, not {a['display']})")
    a, b = name_parts.get("contrast"), candidate_parts.get("contrast")
    if a and b and a != b:
        factor *= 0.85
        notes.append(f"contrast {b}, not {a}")
    return factor, notes


class Suggester:
    def __init__(self, store, lexicon, evidence: Evidence | None = None, max_size: int | None = None,
                 top: int = DEFAULT_TOP):
        self.store = store
        self.lexicon = lexicon
        self.evidence = evidence or Evidence()
        self.max_size = max_size
        self.top = top
        self.parser = Parser(store, lexicon, max_size)
        self._rankers: dict = {}
        self._candidate_parts: dict = {}

    def ranker(self, target_scope: str | None, target_system: str | None) -> Ranker:
        key = (target_scope, None if target_scope else target_system)
        r = self._rankers.get(key)
        if r is None:
            scope = Scope.of(self.store, target_scope, target_system, self.max_size, self.lexicon.canonical)
            r = self._rankers[key] = Ranker(scope, self.lexicon)
        return r

    def close(self) -> None:
        for r in self._rankers.values():
            r.scope.close()
        self.parser.close()

    # -- one name ------------------------------------------------------------------------
    def suggest(self, name: str, ranker: Ranker, language: str | None = None, top: int | None = None,
                skip: tuple | None = None) -> tuple[list[Ranked], dict]:
        """(candidates best first, parts) of a local name in the ranker's scope."""
        top = self.top if top is None else top
        query = read(self.lexicon, name, language, ranker.known, ranker.nearest)
        parts = self.parser.parts(query) if query.parts else dict(NO_PARTS)
        ranked = ranker.rank(query, max(top, AGREEMENT_POOL) if ranker.procedures() else top)
        if ranker.procedures():
            for r in ranked[:AGREEMENT_POOL]:
                factor, notes = agreement(parts, self.candidate_parts(r.candidate))
                if notes:
                    r.score = round(min(1.0, r.score * factor), 4)
                    r.why += "; " + ", ".join(notes)
        ranked = self._weigh_evidence(name, ranked, ranker.scope, skip)
        ranked.sort(key=lambda r: (-r.score, r.candidate.n))
        return ranked[:top], parts

    def candidate_parts(self, candidate) -> dict:
        key = (candidate.system, candidate.code)
        found = self._candidate_parts.get(key)
        if found is None:
            found = self._candidate_parts[key] = self.parser.parts(read(self.lexicon, candidate.display, "en"))
        return found

    def _weigh_evidence(self, name: str, ranked: list, scope: Scope, skip) -> list:
        if not self.evidence:
            return ranked
        by_candidate = {r.candidate.n: r for r in ranked}
        for said in self.evidence.find(name, skip):
            c = scope.candidate(said.system, said.code)
            if c is None:
                continue    # not in this scope: another table's target is no candidate here
            r = by_candidate.get(c.n)
            if said.accepted:
                if r is None:
                    r = by_candidate[c.n] = Ranked(c, 0.0, "")
                    ranked.append(r)
                if said.score() > r.score:
                    r.why = said.why() + (f"; {r.why}" if r.why else "")
                    r.score = round(said.score(), 4)
            elif r is not None:
                r.score = round(r.score * REJECTED_FACTOR, 4)
                r.why += f"; {said.why()}"
        return ranked

    # -- a table ---------------------------------------------------------------------------
    def table(self, table, asked: list[Asked], top: int | None = None, language: str | None = None) -> dict:
        """The suggestions for what `to_suggest` says a table asks for, in its order (`language`: of the
        names without their own, else the table's `language`)."""
        meta = table.meta
        ranker = self.ranker(meta.get("target_scope"), meta.get("target_system"))
        return {"table": table.name, "rows": [self.asked(ranker, table, a, top, language) for a in asked]}

    def asked(self, ranker: Ranker, table, a: Asked, top: int | None = None, language: str | None = None) -> dict:
        """The suggestions for one thing a table asks for (a row's own accepted row is no evidence for it), in
        its language: the row's own, else `language`, else the one the table declares (its TOML's `language`)."""
        language = a.language or language or language_code(table.meta.get("language"))
        return self.row(ranker, a.row, a.source_code, a.source_display, language, top,
                        None if a.row is None else (table.name, a.row))

    def row(self, ranker: Ranker, row, source_code: str, source_display: str, language: str | None = None,
            top: int | None = None, skip: tuple | None = None) -> dict:
        name = source_display or source_code
        ranked, parts = self.suggest(name, ranker, language, top, skip)
        out = {"row": row, "source_code": source_code, "source_display": source_display,
               "candidates": [{**coding(r.candidate), "score": r.score, "why": r.why} for r in ranked],
               "parts": parts}
        if ranker.scope.message:
            out["message"] = ranker.scope.message
        elif not ranked:
            out["message"] = (f"no candidate: no code of the scope ({len(ranker.scope.candidates)} codes) shares a"
                              " word or a close spelling with the name")
        return out


def suggestions_json(result: dict) -> dict:
    """Suggestions as JSON gives them: a row of a workbook read across sheets is `Sheet!row`."""
    return {**result, "rows": [{**r, "row": row_json(r["row"])} for r in result["rows"]]}


@dataclass(frozen=True)
class Asked:
    """What a table's suggestions are for: a row without a target (its number), or a code of the table's
    catalogue that no row names (`row` None: a row to add)."""
    row: int | None
    source_code: str
    source_display: str
    language: str | None = None

    @property
    def key(self) -> tuple:
        return (self.row, None) if self.row is not None else (None, self.source_code)


def to_suggest(table, store, resources=(), all_rows: bool = False) -> tuple[list[Asked], str | None]:
    """What the suggestions of a table are for - the one choice `termsvc mappings suggest`, POST
    /mappings/suggest and the review page make: its rows without a target (every row with all_rows), then
    the codes of its source scope (its catalogue, as the coverage lists them: `resources`, the folders'
    code systems, first, then the build `store`) that no row names yet; and why those codes could not be
    listed (the scope cannot be expanded), or None."""
    by_sheet = sheet_languages(table)
    asked = [Asked(r.row, r.source_code, r.source_display,
                   row_language(r) or by_sheet.get(getattr(r.row, "sheet", ""))) for r in table.rows
             if all_rows or not (r.target_code or r.no_map)]
    unlisted, why_not = codes_without_rows(table, store, resources)
    return asked + [Asked(None, code, display or "") for _, code, display in unlisted], why_not


def catalogue_not_listed(table, why_not: str) -> str:
    """What to say when the codes of a table's catalogue without a row could not be listed."""
    return f"the codes of the source scope {table.meta['source_scope']} without a row are not suggested for: {why_not}"


def sheet_languages(table) -> dict[str, str]:
    """{sheet: language} of a workbook whose sheets read are each named by a language (`de`, `FR`, `nl-BE`,
    `Deutsch`, `Français`): a sheet per language; else {} (a sheet per modality, `CT`, `PT`, names none)."""
    sheets: set[str] = {getattr(r.row, "sheet", "") for r in table.rows} - {""}
    found = {}
    for sheet in sheets:
        name = fold(sheet).strip().replace("_", "-")
        code = LANGUAGE_NAMES.get(name) or (name[:2] if re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)?", name) else None)
        if code not in EU_LANGUAGES:
            return {}
        found[sheet] = code
    return found


def row_language(row) -> str | None:
    for header, value in row.extras.items():
        if fold(header).strip() in LANGUAGE_COLUMNS and value.strip():    # `Język`, `Språk`
            return value.strip().lower().split("-")[0]
    return None
