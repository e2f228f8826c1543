"""Mapping suggestions on the review page (termsvc.api.review): under every row without a target its
candidates (code, display, system, score, reason) and the parts of its name (modality, region,
laterality, contrast); above the rows what the suggestions could not do (a scope that cannot be
expanded: what to load); and the table with its suggestions as XLSX, the file `termsvc mappings
suggest TABLE -o FILE.xlsx` writes (draft rows, a dropdown of the candidates).

A table's suggestions are computed lazily, once per build and worker, by the Suggester POST
/mappings/suggest uses, and kept as far as they got: a page computes those of the rows it shows
(the first PAGE_ROWS rows without a target its filter keeps) within PAGE_SHARE of the request's time
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
from termsvc.suggest.service import row_language
from termsvc.suggest.write import suggestions_bytes

PAGE_SHARE = 0.4         # of the request's time limit, for the suggestions of a page listing FULL_SHARE_ROWS rows
FULL_SHARE_ROWS = 1000   # or fewer; a page listing more spends proportionally less (rendering its rows takes longer)
PAGE_ROWS = 500          # rows a page shows suggestions under, at most (a search or filter finds the others)
XLSX_SHARE = 0.6         # of the request's time limit, for the download's suggestions (the rest writes the file)


class TableSuggestions:
    """The suggestions of one table of one build, as far as they have been computed."""

    def __init__(self, table):
        self.table = table
        self.rows = [r for r in table.rows if not (r.target_code or r.no_map)]   # as Suggester.table selects
        self.done: dict = {}                 # row number -> the row's suggestions (Suggester.row)
        self.scope_message: str | None = None
        self.xlsx: bytes | None = None       # the table with them all, once written

    def pending(self, rows: list | None = None) -> list:
        """Those of `rows` (default: every row without a target) not suggested for yet."""
        return [r for r in (self.rows if rows is None else rows) if r.row not in self.done]

    def advance(self, suggester, todo: list) -> None:
        """Suggest for the rows `todo`, until done or past the deadline (TimeLimitExceeded, the rows
        done so far kept)."""
        meta = self.table.meta
        ranker = suggester.ranker(meta.get("target_scope"), meta.get("target_system"))
        self.scope_message = ranker.scope.message
        for r in deadline.bounded(todo, every=1):
            self.done[r.row] = suggester.row(ranker, r.row, r.source_code, r.source_display, row_language(r),
                                             skip=(self.table.name, r.row))

    def result(self) -> dict:
        """The suggestions computed, in the shape of Suggester.table."""
        return {"table": self.table.name, "rows": [self.done[r.row] for r in self.rows if r.row in self.done]}


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
    unfinished: str | None = None    # why `done` < `shown`

    def __contains__(self, row) -> bool:
        return row in self.by_row

    def __getitem__(self, row) -> dict:
        return self.by_row[row]


def _suggestions(store, rep: dict, table) -> TableSuggestions:
    return build_cached(store, ("review", "suggestions", rep["id"]), lambda: TableSuggestions(table))


def _suggester(store):
    return build_suggester(store, current_app.extensions["termsvc.settings"])


def for_page(store, rep: dict, table, rows: list) -> Shown:
    """The suggestions a table page shows under the rows it shows (`rows`), computed within PAGE_SHARE
    of the request's time limit."""
    s = _suggestions(store, rep, table)
    without_target = {r.row for r in s.rows}
    listed = [r for r in rows if r.row in without_target]
    shown = listed[:PAGE_ROWS]
    unfinished = None
    share_ms = round(store.time_limit_ms * PAGE_SHARE * min(1.0, FULL_SHARE_ROWS / max(1, len(rows))))
    try:
        if todo := s.pending(shown):
            with deadline.within(share_ms):
                s.advance(_suggester(store), todo)
    except deadline.TimeLimitExceeded:
        if deadline.expired():
            raise        # the request's own limit: the page cannot be shown either
        unfinished = (f"the rest did not fit in the {share_ms:g} ms this page may spend on them (what is"
                      " computed is kept: reload the page to go on, or download the table with its suggestions)")
    except OpError as e:
        unfinished = e.text
    done = [s.done[r.row] for r in shown if r.row in s.done]
    by_row = {v["row"]: v for v in done if v["candidates"] or v.get("message") not in (None, s.scope_message)}
    meta = table.meta
    return Shown(by_row, meta.get("target_scope") or meta.get("target_system"), len(s.rows), len(listed),
                 len(shown), len(done), s.scope_message, unfinished)


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
                      f" (computed for {len(s.done)} of the {len(s.rows)} rows without a target, and kept: ask"
                      " again to go on, or run `termsvc mappings suggest` on the table)",
                      status=422, code="too-costly") from None
    if s.xlsx is None:
        s.xlsx = suggestions_bytes(table, s.result(), "xlsx")[0]
    return s.xlsx
