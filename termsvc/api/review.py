"""The review page of the mapping tables: GET /mappings, server-rendered HTML (templates/review_*.html),
read-only, no scripts.

    /mappings                      every table the build judged (those with errors first): coverage, counts,
                                   what changed since the build served before; tiles and badges link to the
                                   rows they count. ?q= searches every table's rows (source and target code
                                   and display, author, reviewer, comment; case and accents folded), and
                                   ?status= ?problem= ?change= ?system= (target system) filter them; the
                                   codes of the tables' catalogues that no row names are counted, and those
                                   the filter keeps (as the draft rows they would be) listed
    /mappings/ID                   one table: its problems, unmapped codes, changes, and its rows (the same
                                   filters), every cell with its problem in its column, extra columns collapsible
    /mappings/ID.csv, ID.xlsx      the table, as `termsvc mappings export --db` writes it (?delimiter=)
    /mappings/ID/suggestions.xlsx  the table with mapping suggestions for its rows without a target, as
                                   `termsvc mappings suggest TABLE -o FILE.xlsx` writes it (review_suggestions)

A filter value is case-insensitive; an unknown one is a 400. Errors are HTML pages for a browser (Accept:
text/html first) and OperationOutcomes otherwise. Everything comes from the build (the complete tables and
the reports its mapping step stored): the spreadsheets stay the source of truth.

A block under each row of a table page is a RowBlock in ROW_BLOCKS: its template is included under the
rows its `data` has a value for. The mapping suggestions (candidates of the rows without a target) are one.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from urllib.parse import quote, urlencode

import orjson
from flask import Blueprint, Response, current_app, request

from termsvc import deadline
from termsvc.api import review_suggestions
from termsvc.api.dispatch import FHIR_JSON
from termsvc.api.errors import error_outcome
from termsvc.fhir.outcome import NotFound, OpError
from termsvc.mappings.diff import REMOVED_TABLES_META
from termsvc.mappings.export import MEDIA_TYPES, ExportError, export
from termsvc.mappings.from_fhir import stored_table
from termsvc.mappings.review import STATUS_CHOICES, RowFilter, exact_match, layout, row_cells
from termsvc.ops.context import Context, build_cached
from termsvc.templates import render

MAX_RESULTS = 500
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class RowBlock:
    """A block shown under rows of a table page: `template` is included with `r` (the Row), `rep` (the
    table's report) and `value`, for each row whose number `data(store, report, table, rows, filter)` ({row
    number: value}, or an object that answers `in` and `[]` alike; `rows`: the Rows the page shows, by the
    RowFilter `filter`) names; `heading`, a template included above the rows with that `data`."""
    template: str
    data: Callable
    heading: str | None = None


ROW_BLOCKS: list[RowBlock] = [RowBlock("review_suggestions.html", review_suggestions.for_page,
                                       "review_suggestions_heading.html")]


def _store():
    store = current_app.extensions["termsvc.store"]
    store.refresh()
    return store


def _reports(store) -> list[dict]:
    """The build's table reports, those with errors first (the most first), then in load order."""
    return build_cached(store, ("review", "reports"), lambda: sorted(
        store.mapping_reports(), key=lambda rep: -rep["errors"]))


def _without_target(store) -> dict:
    """table id -> (its rows without a target, its catalogue's codes without a row): what its suggestions
    are for, counted once per build from its report (the build's `empty-target` problems and coverage)."""
    def count(rep: dict) -> tuple[int, int]:
        unmapped = (rep.get("coverage") or {}).get("unmapped_codes") or []
        return (sum(p["kind"] == "empty-target" for p in rep["problems"]), sum(not u["pending"] for u in unmapped))
    return build_cached(store, ("review", "without-target"), lambda: {rep["id"]: count(rep) for rep in _reports(store)})


def _report(store, table_id: str) -> dict:
    for rep in _reports(store):
        if rep.get("id") == table_id:
            return rep
    raise NotFound(f"no mapping table '{table_id}' in this build", tx_type=None)


def _system_name(store, url: str) -> str:
    """A code system's title as the build has it (its url when not loaded)."""
    def make():
        cs = Context(store).code_system(url)
        return (cs.resource.get("title") or cs.resource.get("name")) if cs is not None else None
    return build_cached(store, ("review", "system", url), make) or url


def _url(path: str, anchor: str = "", **query) -> str:
    query = {k: v for k, v in query.items() if v}
    return request.script_root + path + ("?" + urlencode(query) if query else "") + (f"#{anchor}" if anchor else "")


def _table_url(rep: dict, anchor: str = "", **query) -> str:
    return _url("/mappings/" + quote(rep["id"]), anchor, **query)


def _filter() -> RowFilter:
    args = request.args
    try:
        return RowFilter.parse(args.get("q", ""), args.get("status", ""), args.get("problem", ""), args.get("change", ""),
                               args.get("system", ""))
    except ValueError as e:
        raise OpError(str(e), status=400, code="invalid") from None


def _page(store, template: str, **context) -> Response:
    return Response(render(template, url=_url, table_url=_table_url, system_name=lambda u: _system_name(store, u),
                           status_choices=STATUS_CHOICES, without_target=_without_target(store), **context),
                    content_type=HTML)


def _row(row) -> str | None:
    """A row's number as the report's JSON and the table's rows alike give it: `12`, `de!12` (a sheet's row)."""
    return None if row is None else str(row)


def _problems_by_row(rep: dict) -> dict:
    out: dict = {}
    for p in rep["problems"]:
        out.setdefault(_row(p["row"]), []).append(p)
    return out


def _changed_rows(rep: dict) -> dict:
    """row number (_row) -> "added" or "changed", since the build served before."""
    changes = rep.get("changes") or {}
    out = {_row(r["row"]): "added" for r in changes.get("added", [])}
    out.update({_row(c["new"]["row"]): "changed" for c in changes.get("changes", [])})
    return out


def overview() -> Response:
    store = _store()
    with store.time_limit():
        reports = _reports(store)
        f = _filter()
        hits, more = (_search(store, reports, f) if f.active else ([], False))
        unlisted = _unlisted(reports, f) if f.active else ([], 0, 0)
        removed = build_cached(store, ("review", "removed"), lambda: orjson.loads(store.meta(REMOVED_TABLES_META) or "[]"))
        return _page(store, "review_overview.html", reports=reports, filter=f, q=request.args.get("q", ""), hits=hits,
                     more=more, unlisted=unlisted, tiles=_tiles(reports), removed=removed)


def _tiles(reports: list[dict]) -> list[tuple]:
    """(label, count, link) of the overview's tiles: each links to the rows it counts."""
    def total(key):
        return sum(rep[key] for rep in reports)

    def rows(**query):
        return _url("/mappings", "results", **query)
    changes = [rep["changes"]["counts"] for rep in reports if rep.get("changes")]
    tiles = [("tables", len(reports), "#tables"), ("rows", total("rows"), "#tables"),
             ("errors", total("errors"), rows(problem="error")), ("warnings", total("warnings"), rows(problem="warning"))]
    tiles += [(status, n, rows(status=status)) for status in STATUS_CHOICES
              if (n := sum((rep.get("status_counts") or {}).get(status, 0) for rep in reports))]
    if changes:
        tiles.append(("rows added or changed since the build served before",
                      sum(c["added"] + c["changed"] for c in changes), rows(change="any")))
    return tiles


def _search(store, reports: list[dict], f: RowFilter) -> tuple[list, bool]:
    """Rows of every table the filter keeps, exact code matches first: ([(report, row, problems)], more)."""
    hits = []
    for rep in reports:
        loaded = stored_table(store, rep)
        by_row, changed = _problems_by_row(rep), _changed_rows(rep)
        for r in deadline.bounded(loaded[1].rows if loaded else ()):
            problems = by_row.get(_row(r.row), [])
            if f.keep(r, problems, changed.get(_row(r.row))):
                hits.append((not (f.q and exact_match(r, f.q)), rep, r, problems))
    hits.sort(key=lambda h: h[0])
    return [h[1:] for h in hits[:MAX_RESULTS]], len(hits) > MAX_RESULTS


def _unlisted(reports: list[dict], f: RowFilter) -> tuple[list, int, int]:
    """The codes of the tables' catalogues that no row names (from each build report's coverage) the filter
    keeps, as the draft rows they would be: ([(report, code)], the first MAX_RESULTS; how many it keeps; how
    many there are in all)."""
    out, total = [], 0
    for rep in reports:
        codes = [u for u in ((rep.get("coverage") or {}).get("unmapped_codes") or ()) if not u["pending"]]
        total += len(codes)
        out += [(rep, u) for u in deadline.bounded(codes)
                if f.keep_unlisted(u["code"], u.get("display") or "", rep.get("meta") or {})]
    return out[:MAX_RESULTS], len(out), total


def table_page(table_id: str) -> Response:
    store = _store()
    with store.time_limit():
        rep = _report(store, table_id)
        f = _filter()
        loaded = stored_table(store, rep)
        by_row = _problems_by_row(rep)
        rows, columns, blocks = [], [], []
        if loaded is not None:
            t = loaded[1]
            columns = layout(t)
            changed = _changed_rows(rep)
            served = rep.get("served_statuses")
            error_rows = {_row(p["row"]) for p in rep["problems"] if p["level"] == "error"}
            for r in deadline.bounded(t.rows):
                problems = by_row.get(_row(r.row), [])
                if f.keep(r, problems, changed.get(_row(r.row))):
                    rows.append({"row": r, "problems": problems, "cells": row_cells(r, columns, problems),
                                 "change": changed.get(_row(r.row)), "level": _level(problems),
                                 "served": bool(rep.get("loaded")) and (served is None or r.status in served)
                                 and _row(r.row) not in error_rows})
            blocks = [(b, b.data(store, rep, t, [item["row"] for item in rows], f)) for b in ROW_BLOCKS]
        kinds = sorted({p["kind"] for p in rep["problems"] if p["row"] is not None})
        systems = [(url, _system_name(store, url)) for url in sorted(
            {r.target_system for r in (loaded[1].rows if loaded else ()) if r.target_system} | {f.system} - {""})]
        return _page(store, "review_table.html", rep=rep, filter=f, q=request.args.get("q", ""), rows=rows,
                     columns=columns, total=len(loaded[1].rows) if loaded else 0, loaded=loaded is not None,
                     table_problems=by_row.get(None, []), kinds=kinds, blocks=blocks, systems=systems,
                     extras=[c for c in columns if c.extra])


def _level(problems: list) -> str:
    return "error" if any(p["level"] == "error" for p in problems) else "warning" if problems else ""


def _loaded(store, table_id: str) -> tuple[dict, tuple]:
    """(report, (ConceptMap, Table)) of a table the build loaded (else 404)."""
    rep = _report(store, table_id)
    loaded = stored_table(store, rep)
    if loaded is None:
        raise NotFound(f"mapping table '{table_id}' was not loaded by this build", tx_type=None)
    return rep, loaded


def download(table_id: str, fmt: str) -> Response:
    store = _store()
    with store.time_limit():
        rep, loaded = _loaded(store, table_id)
        try:
            data = export(loaded[0], fmt, delimiter=request.args.get("delimiter") or None)
        except ExportError as e:
            raise OpError(str(e), status=400, code="invalid") from None
    return _attachment(data, f"{rep['name']}.{fmt}", fmt)


def download_suggestions(table_id: str) -> Response:
    store = _store()
    with store.time_limit():
        rep, loaded = _loaded(store, table_id)
        data = review_suggestions.xlsx(store, rep, loaded[1])
    return _attachment(data, f"{rep['name']}-suggestions.xlsx", "xlsx")


def _attachment(data: bytes, name: str, fmt: str) -> Response:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return Response(data, content_type=MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt == "csv" else ""),
                    headers={"Content-Disposition": f"attachment; filename=\"{ascii_name}\";"
                                                    f" filename*=UTF-8''{quote(name)}"})


def unknown_page(rest: str) -> Response:
    raise NotFound(f"no page /mappings/{rest}: the review page is /mappings, a table's /mappings/ID", tx_type=None)


def wants_html() -> bool:
    """Does the client (a browser) prefer HTML to JSON?"""
    return request.accept_mimetypes.best_match([FHIR_JSON, "application/json", "text/html"]) == "text/html"


def error_page(e: Exception) -> Response:
    """An error as an HTML page for a browser, else as the OperationOutcome every other path answers."""
    status, body = error_outcome(e, request.path)
    if not wants_html():
        return Response(orjson.dumps(body), status=status, content_type=FHIR_JSON)
    messages = [(i.get("details") or {}).get("text") or i.get("diagnostics") or "" for i in body.get("issue", [])]
    return Response(render("review_error.html", status=status, messages=messages, url=_url), status=status,
                    content_type=HTML)


def blueprint() -> Blueprint:
    bp = Blueprint("mappings_review", __name__)
    bp.add_url_rule("", "overview", overview, methods=["GET"])
    bp.add_url_rule("/", "overview_slash", overview, methods=["GET"])
    bp.add_url_rule("/<table_id>.<any(csv, xlsx):fmt>", "download", download, methods=["GET"])
    bp.add_url_rule("/<table_id>/suggestions.xlsx", "suggestions", download_suggestions, methods=["GET"])
    bp.add_url_rule("/<table_id>", "table", table_page, methods=["GET"])
    bp.add_url_rule("/<path:rest>", "unknown", unknown_page, methods=["GET"])
    bp.register_error_handler(Exception, error_page)
    return bp
