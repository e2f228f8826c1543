"""Mapping suggestions on the review page (termsvc.api.review): under every row without a target its
candidates (code, display, system, score, reason) and the parts of its name (modality, region,
laterality, contrast); above the rows the codes of the table's catalogue (its source scope) that no row
names yet, each with its candidates, and what the suggestions could not do (a scope that cannot be
expanded: what to load); and the table with its suggestions as XLSX, the file `termsvc mappings
suggest TABLE -o FILE.xlsx` writes (draft rows, a new draft row for each catalogue code without one,
a dropdown of the candidates). What is suggested for is what the CLI and POST /mappings/suggest choose
(termsvc.suggest.service.to_suggest).

A table's suggestions are computed lazily, once per build and worker, by the Suggester POST
/mappings/suggest uses, and kept as far as they got: a page computes those of the rows it shows
(the first PAGE_ROWS rows without a target its filter keeps, then the catalogue codes without a row it
keeps, as the draft rows without a target they would be) within PAGE_SHARE of the request's time
limit (less for a page of many rows, whose rendering takes longer) and shows what it has, saying
how far it got (the next request goes on from there); the download finishes them all within the
request's time limit or answers 422 saying so. The overview computes none.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from termsvc import deadline
from termsvc.api.suggest import build_suggester
from termsvc.fhir.outcome import OpError
from termsvc.ops.context import build_cached
from termsvc.suggest.service import catalogue_not_listed, to_suggest
from termsvc.suggest.write import suggestions_bytes

PAGE_SHARE = 0.4         # of the request's time limit, for the suggestions of a page listing FULL_SHARE_ROWS rows
FULL_SHARE_ROWS = 1000   # or fewer; a page listing more spends proportionally less (rendering its rows takes longer)
PAGE_ROWS = 500          # rows a page shows suggestions under, at most (a search or filter finds the others)
XLSX_SHARE = 0.6         # of the request's time limit, for the download's suggestions (the rest writes the file)


class TableSuggestions:
    """The suggestions of one table of one build, as far as they have been computed: for what
    `to_suggest` says the table asks for (its rows without a target, then its catalogue's codes without
    a row), as `termsvc mappings suggest` and POST /mappings/suggest choose."""

    def __init__(self, table, asked: list, why_not: str | None):
        self.table = table
        self.rows = [a for a in asked if a.row is not None]
        self.unlisted = [a for a in asked if a.row is None]      # catalogue codes no row names
        self.catalogue_message = catalogue_not_listed(table, why_not) if why_not else None
        self.done: dict = {}                 # Asked.key -> its suggestions (Suggester.row)
        self.scope_message: str | None = None
        self.xlsx: bytes | None = None       # the table with them all, once written

    def pending(self, asked: list | None = None) -> list:
        """Those of `asked` (default: all) not suggested for yet."""
        return [a for a in (self.rows + self.unlisted if asked is None else asked) if a.key not in self.done]

    def advance(self, suggester, todo: list) -> None:
        """Suggest for `todo`, until done or past the deadline (TimeLimitExceeded, those done so far kept)."""
        meta = self.table.meta
        ranker = suggester.ranker(meta.get("target_scope"), meta.get("target_system"))
        self.scope_message = ranker.scope.message
        for a in deadline.bounded(todo, every=1):
            self.done[a.key] = suggester.asked(ranker, self.table, a)

    def result(self) -> dict:
        """The suggestions computed, in the shape of Suggester.table."""
        return {"table": self.table.name,
                "rows": [self.done[a.key] for a in self.rows + self.unlisted if a.key in self.done]}


@dataclass
class Shown:
    """What a table page shows of its suggestions (the `data` of its RowBlock): {row number: the row's
    suggestions} for the rows with candidates or a word of their own, and what is said above the rows."""
    by_row: dict
    scope: str | None                # the table's target scope (else its target system)
    total: int                       # rows without a target in the table
    listed: int                      # of them, on this page (its filter)
    shown: int                       # of those, the ones to show suggestions under (PAGE_ROWS at most)
    done: int                        # of those, with their suggestions computed
    scope_message: str | None        # the scope is incomplete or cannot be expanded (what to load)
    unlisted: list                   # the catalogue codes without a row it shows (PAGE_ROWS in all at most):
                                     # {source_code, source_display, suggestions (None: not computed)}
    unlisted_kept: int               # catalogue codes without a row the page's filter keeps
    unlisted_total: int              # catalogue codes without a row
    catalogue_message: str | None    # why they could not be listed
    filtered: bool                   # a filter narrows the page
    unfinished: str | None = None    # why `done` < `shown`

    def __contains__(self, row) -> bool:
        return row in self.by_row

    def __getitem__(self, row) -> dict:
        return self.by_row[row]


def _suggestions(store, rep: dict, table) -> TableSuggestions:
    return build_cached(store, ("review", "suggestions", rep["id"]),
                        lambda: TableSuggestions(table, *to_suggest(table, store)))


def _suggester(store):
    return build_suggester(store, current_app.extensions["termsvc.settings"])


def for_page(store, rep: dict, table, rows: list, f) -> Shown:
    """The suggestions a table page shows under the rows it shows (`rows`, those the RowFilter `f` keeps), and
    for the catalogue codes without a row that `f` keeps (as the draft rows without a target they would be),
    PAGE_ROWS in all at most, computed within PAGE_SHARE of the request's time limit."""
    s = _suggestions(store, rep, table)
    listed_rows = {r.row for r in rows}
    listed = [a for a in s.rows if a.row in listed_rows]
    shown = listed[:PAGE_ROWS]
    kept = [a for a in s.unlisted if f.keep_unlisted(a.source_code, a.source_display, table.meta)]
    unlisted = kept[:PAGE_ROWS - len(shown)]
    unfinished = None
    share_ms = round(store.time_limit_ms * PAGE_SHARE * min(1.0, FULL_SHARE_ROWS / max(1, len(rows) + len(unlisted))))
    try:
        if todo := s.pending(shown + unlisted):
            with deadline.within(share_ms):
                s.advance(_suggester(store), todo)
    except deadline.TimeLimitExceeded:
        if deadline.expired():
            raise        # the request's own limit: the page cannot be shown either
        unfinished = (f"the rest did not fit in the {share_ms:g} ms this page may spend on them (what is"
                      " computed is kept: reload the page to go on, or download the table with its suggestions)")
    except OpError as e:
        unfinished = e.text
    done = [s.done[a.key] for a in shown if a.key in s.done]
    by_row = {v["row"]: v for v in done if v["candidates"] or v.get("message") not in (None, s.scope_message)}
    unlisted_listed = [{"source_code": a.source_code, "source_display": a.source_display,
                        "suggestions": s.done.get(a.key)} for a in unlisted]
    meta = table.meta
    return Shown(by_row, meta.get("target_scope") or meta.get("target_system"), len(s.rows), len(listed),
                 len(shown), len(done), s.scope_message, unlisted_listed, len(kept), len(s.unlisted),
                 s.catalogue_message, f.active, unfinished)


def xlsx(store, rep: dict, table) -> bytes:
    """The table with its suggestions as XLSX, every row without a target suggested for within
    XLSX_SHARE of the request's time limit (else a 422 saying how far it got; what is computed is kept)."""
    s = _suggestions(store, rep, table)
    try:
        if todo := s.pending():
            with deadline.within(store.time_limit_ms * XLSX_SHARE):
                s.advance(_suggester(store), todo)
    except deadline.TimeLimitExceeded:
        raise OpError(f"The suggestions of this table did not fit in the time limit of {store.time_limit_ms} ms"
                      f" (computed for {len(s.done)} of the {_asked_text(s)}, and kept: ask"
                      " again to go on, or run `termsvc mappings suggest` on the table)",
                      status=422, code="too-costly") from None
    if s.xlsx is None:
        s.xlsx = suggestions_bytes(table, s.result(), "xlsx")[0]
    return s.xlsx


def _asked_text(s: TableSuggestions) -> str:
    text = f"{len(s.rows)} rows without a target"
    return text + (f" and {len(s.unlisted)} catalogue codes without a row" if s.unlisted else "")
