"""Mapping suggestions on the review page (termsvc.api.review): under every row without a target its
candidates (code, display, system, score, reason) and the parts of its name (modality, region,
laterality, contrast); above the rows what the suggestions could not do (a scope that cannot be
expanded: what to load); and the table with its suggestions as XLSX, the file `termsvc mappings
suggest TABLE -o FILE.xlsx` writes (draft rows, a dropdown of the candidates).

A table's suggestions are computed lazily, by its page or its download, once per build and worker,
by the Suggester POST /mappings/suggest uses, and kept as far as they got: a page spends at most
PAGE_SHARE of the request's time limit on them and shows what it has, saying how far it got (the next
request goes on from there); the download finishes them within the request's time limit or answers
422 saying so. The overview computes none.
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

PAGE_SHARE = 0.5      # of the request's time limit, for a page's suggestions (the rest renders the page)


class TableSuggestions:
    """The suggestions of one table of one build, as far as they have been computed."""

    def __init__(self, table):
        self.table = table
        self.rows = [r for r in table.rows if not (r.target_code or r.no_map)]   # as Suggester.table selects
        self.done: dict = {}                 # row number -> the row's suggestions (Suggester.row)
        self.scope_message: str | None = None
        self.xlsx: bytes | None = None       # the table with them all, once written

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.rows)

    def advance(self, suggester) -> None:
        """Suggest for the rows not done yet, until done or past the deadline (TimeLimitExceeded, the
        rows done so far kept)."""
        if self.complete:
            return
        meta = self.table.meta
        ranker = suggester.ranker(meta.get("target_scope"), meta.get("target_system"))
        self.scope_message = ranker.scope.message
        for r in deadline.bounded([r for r in self.rows if r.row not in self.done], every=1):
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
    total: int                       # rows without a target
    done: int                        # of them, with their suggestions computed
    scope_message: str | None        # the scope is incomplete or cannot be expanded (what to load)
    unfinished: str | None = None    # why `done` < `total`

    def __contains__(self, row) -> bool:
        return row in self.by_row

    def __getitem__(self, row) -> dict:
        return self.by_row[row]


def _suggestions(store, rep: dict, table) -> TableSuggestions:
    return build_cached(store, ("review", "suggestions", rep["id"]), lambda: TableSuggestions(table))


def _suggester(store):
    return build_suggester(store, current_app.extensions["termsvc.settings"])


def for_page(store, rep: dict, table) -> Shown:
    """The suggestions a table page shows, computed within PAGE_SHARE of the request's time limit."""
    s = _suggestions(store, rep, table)
    unfinished = None
    if not s.complete:
        share_ms = store.time_limit_ms * PAGE_SHARE
        try:
            with deadline.within(share_ms):
                s.advance(_suggester(store))
        except deadline.TimeLimitExceeded:
            if deadline.expired():
                raise        # the request's own limit: the page cannot be shown either
            unfinished = (f"the rest did not fit in the {share_ms:g} ms this page may spend on them (what is"
                          " computed is kept: reload the page to go on, or download the table with its suggestions)")
        except OpError as e:
            unfinished = e.text
    by_row = {n: v for n, v in s.done.items()
              if v["candidates"] or v.get("message") not in (None, s.scope_message)}
    meta = table.meta
    return Shown(by_row, meta.get("target_scope") or meta.get("target_system"), len(s.rows), len(s.done),
                 s.scope_message, unfinished)


def xlsx(store, rep: dict, table) -> bytes:
    """The table with its suggestions as XLSX, every row without a target suggested for within the
    request's time limit (else a 422 saying how far it got; what is computed is kept)."""
    s = _suggestions(store, rep, table)
    try:
        s.advance(_suggester(store))
    except deadline.TimeLimitExceeded as e:
        raise OpError(f"{e}: suggestions computed for {len(s.done)} of the {len(s.rows)} rows without a target"
                      " (kept: ask again to go on, or run `termsvc mappings suggest` on the table)",
                      status=422, code="too-costly") from None
    if s.xlsx is None:
        s.xlsx = suggestions_bytes(table, s.result(), "xlsx")[0]
    return s.xlsx
