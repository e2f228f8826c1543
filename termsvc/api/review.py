"""The review page of the mapping tables: GET /mappings, server-rendered HTML, read-only.

    /mappings                      every table the build judged: coverage bar, counts, links; a search
                                   box (?q=) finding a local code or display across all tables
    /mappings/ID                   one table's rows, filtered by ?status= and ?problem=
    /mappings/ID.csv, ID.xlsx      the table, as `termsvc mappings export --db` writes it

Everything comes from the build (the complete tables and the reports its mapping step stored): the
spreadsheets stay the source of truth, and the page shows what the build made of them.
"""
from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, request

from termsvc import deadline
from termsvc.fhir.outcome import NotFound
from termsvc.mappings.export import MEDIA_TYPES, export
from termsvc.mappings.from_fhir import table_from_concept_map
from termsvc.mappings.report_html import CSS, coverage_bar, problems_table
from termsvc.mappings.table import ROW_STATUSES
from termsvc.ops.context import build_cached

MAX_RESULTS = 500
PAGE_CSS = CSS + """
main{max-width:1700px}td{overflow-wrap:anywhere}
nav{margin-bottom:14px;font-size:14px}nav a{margin-right:14px}
form.search input[type=search]{font-size:15px;padding:6px 10px;width:320px;border:1px solid #b8c0cc;border-radius:6px}
form button,form select{font-size:14px;padding:5px 10px;margin-left:6px}
.links a{margin-right:12px;font-size:13px}
.st{display:inline-block;border-radius:9px;padding:0 8px;font-size:12px;font-weight:600}
.st-accepted{background:#c6efce;color:#1e6b34}.st-in-review{background:#ffeb9c;color:#7a5800}
.st-draft{background:#ddebf7;color:#1f4e79}.st-rejected{background:#ffc7ce;color:#9c0006}.st-invalid{background:#eee}
td.p-error{color:#9b1c1c}td.p-warning{color:#7a5800}.muted{color:#8a93a3}
"""


def _store():
    store = current_app.extensions["termsvc.store"]
    store.refresh()
    return store


def _reports(store) -> list[dict]:
    return build_cached(store, ("review", "reports"), store.mapping_reports)


def _report(store, table_id: str) -> dict:
    for rep in _reports(store):
        if rep.get("id") == table_id:
            return rep
    raise NotFound(f"no mapping table '{table_id}' in this build", tx_type=None)


def _table(store, rep: dict):
    """The stored complete table of a report (None when the build could not read it)."""
    def make():
        cm = store.mapping_table(rep["id"])
        return None if cm is None else (cm, table_from_concept_map(cm, rep["name"]))
    return build_cached(store, ("review", "table", rep["id"]), make)


def _page(title: str, body: str) -> Response:
    html = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{PAGE_CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>Mapping tables as this build loaded them; the spreadsheets"
            " stay the source of truth.</p></header><main>" + body + "</main></body></html>\n")
    return Response(html, content_type="text/html; charset=utf-8")


def _url(path: str, **query) -> str:
    query = {k: v for k, v in query.items() if v}
    return request.script_root + path + ("?" + urlencode(query) if query else "")


def _search_form(q: str = "") -> str:
    return (f'<form class="search" method="get" action="{_url("/mappings")}" role="search">'
            f'<input type="search" name="q" id="q" value="{escape(q)}" placeholder="local code or display"'
            ' aria-label="Find a local code in every table"><button type="submit" id="find">Find</button></form>')


def _status(status: str | None) -> str:
    status = status or "invalid"
    return f'<span class="st st-{escape(status)}">{escape(status)}</span>'


def _links(rep: dict) -> str:
    tid = quote(rep["id"])
    out = [f'<a href="{_url("/mappings/" + tid)}">rows</a>']
    if rep.get("loaded"):
        out += [f'<a href="{_url("/fhir/ConceptMap/" + tid)}">ConceptMap R5 JSON</a>',
                f'<a href="{_url("/r4/fhir/ConceptMap/" + tid)}">ConceptMap R4 JSON</a>']
        out += [f'<a href="{_url(f"/mappings/{tid}.{fmt}")}" download>download {fmt.upper()}</a>' for fmt in ("csv", "xlsx")]
    return '<div class="links">' + "".join(out) + "</div>"


def _summary(rep: dict) -> str:
    counts = ", ".join(f"{escape(k)} {v}" for k, v in (rep.get("status_counts") or {}).items()) or "no rows"
    served = "" if rep.get("served") is None else f" &middot; {rep['served']} served"
    if rep.get("dropped"):
        served += f', <b>{rep["dropped"]} left out for their errors</b>'
    e, w = rep["errors"], rep["warnings"]
    badge = (f'<span class="badge b-err">{e} error{"" if e == 1 else "s"}</span>' if e
             else '<span class="badge b-ok">no errors</span>')
    if w:
        badge += f'<span class="badge b-warn">{w} warning{"" if w == 1 else "s"}</span>'
    note = "" if rep.get("loaded") else '<div class="note">Not loaded: the build could not use this table.</div>'
    return (f'<h2>{escape(rep.get("title") or rep["name"])}{badge}</h2>'
            f'<div class="meta">{escape(rep["file"])} &middot; {escape(rep.get("url") or "")}</div>{note}'
            f'<div class="counts">{rep["rows"]} rows: {counts}{served}</div>')


def overview() -> Response:
    store = _store()
    with store.time_limit():
        reports = _reports(store)
        q = (request.args.get("q") or "").strip()
        body = [_search_form(q)]
        if q:
            body.append(_search_results(store, reports, q))
        body.append('<div class="summary">'
                    f'<div class="pill"><b>{len(reports)}</b>tables</div>'
                    f'<div class="pill"><b>{sum(r["rows"] for r in reports)}</b>rows</div>'
                    f'<div class="pill"><b>{sum(r["errors"] for r in reports)}</b>errors</div>'
                    f'<div class="pill"><b>{sum(r["warnings"] for r in reports)}</b>warnings</div></div>')
        if not reports:
            body.append('<div class="note">This build holds no mapping tables.</div>')
        for rep in deadline.bounded(reports):
            body.append(f'<section class="table" id="{escape(rep["id"])}">{_summary(rep)}'
                        f'{coverage_bar(rep.get("coverage"))}{_links(rep)}</section>')
        return _page("Mapping tables", "".join(body))


def _search_results(store, reports: list[dict], q: str) -> str:
    needle = q.casefold()
    hits = []
    for rep in reports:
        loaded = _table(store, rep)
        for r in deadline.bounded(loaded[1].rows if loaded else ()):
            if needle in r.source_code.casefold() or needle in r.source_display.casefold():
                exact = r.source_code.casefold() == needle
                hits.append((not exact, rep, r))
    hits.sort(key=lambda h: h[0])   # exact code matches first
    rows = "".join(
        f'<tr><td><a href="{_url("/mappings/" + quote(rep["id"]))}#row-{r.row}">{escape(rep["name"])}</a></td>'
        f'<td>{r.row}</td><td><code>{escape(r.source_code)}</code></td><td>{escape(r.source_display)}</td>'
        f'<td><code>{escape(r.target_code)}</code>{" no map" if r.no_map else ""}</td><td>{escape(r.target_display)}</td>'
        f'<td>{_status(r.status)}</td><td>{escape(r.author)}</td><td>{escape(r.reviewer)}</td>'
        f'<td>{escape(r.status_date)}</td></tr>' for _, rep, r in hits[:MAX_RESULTS])
    more = f" (the first {MAX_RESULTS})" if len(hits) > MAX_RESULTS else ""
    if not hits:
        return f'<section class="table" id="results"><h2>No row has a local code or display with “{escape(q)}”</h2></section>'
    return (f'<section class="table" id="results"><h2>{len(hits)} row(s) for “{escape(q)}”{more}</h2>'
            '<table class="grid"><tr><th>Table</th><th>Row</th><th>Source code</th><th>Source display</th>'
            '<th>Target code</th><th>Target display</th><th>Status</th><th>Author</th><th>Reviewer</th>'
            f'<th>Date</th></tr>{rows}</table></section>')


def table_page(table_id: str) -> Response:
    store = _store()
    with store.time_limit():
        rep = _report(store, table_id)
        loaded = _table(store, rep)
        status, problem = request.args.get("status") or "", request.args.get("problem") or ""
        by_row: dict = {}
        for p in rep["problems"]:
            by_row.setdefault(p["row"], []).append(p)
        body = [f'<nav><a href="{_url("/mappings")}">all tables</a></nav>', _search_form(),
                f'<section class="table">{_summary(rep)}{coverage_bar(rep.get("coverage"))}{_links(rep)}']
        whole = by_row.get(None, [])
        if whole:
            body.append(f"<details open><summary>Problems of the table ({len(whole)})</summary>"
                        f"{problems_table(whole)}</details>")
        unmapped = (rep.get("coverage") or {}).get("unmapped_codes") or []
        if unmapped:
            items = "".join(f'<li><code>{escape(u["code"])}</code> {escape(u.get("display") or "")}'
                            + (' <span class="pending">(rows pending review)</span>' if u.get("pending") else "")
                            + "</li>" for u in unmapped)
            body.append(f'<details><summary>Unmapped codes ({len(unmapped)})</summary><ul class="codes">{items}</ul></details>')
        body.append("</section>")
        if loaded is None:
            body.append(f'<section class="table">{problems_table(rep["problems"])}</section>')
        else:
            body.append(_rows_section(rep, loaded[1], by_row, status, problem))
        return _page(f"Mapping table {rep['name']}", "".join(body))


def _filter_form(rep: dict, kinds: list, status: str, problem: str) -> str:
    def options(current, choices):
        return "".join(f'<option value="{escape(v)}"{" selected" if v == current else ""}>{escape(label)}</option>'
                       for v, label in choices)
    statuses = [("", "any status")] + [(s, s) for s in ROW_STATUSES + ["invalid"]]
    problems = [("", "any row"), ("any", "has a problem"), ("error", "has an error"), ("warning", "has a warning"),
                ("none", "no problem")] + [(k, k) for k in kinds]
    return (f'<form class="filters" method="get" action="{_url("/mappings/" + quote(rep["id"]))}">'
            f'<label>Status <select name="status" id="status">{options(status, statuses)}</select></label>'
            f'<label> Problem <select name="problem" id="problem">{options(problem, problems)}</select></label>'
            '<button type="submit" id="filter">Filter</button></form>')


def _keep(r, status: str, problem: str, problems: list) -> bool:
    if status and (r.status or "invalid") != status:
        return False
    if problem == "any":
        return bool(problems)
    if problem == "none":
        return not problems
    if problem in ("error", "warning"):
        return any(p["level"] == problem for p in problems)
    return not problem or any(p["kind"] == problem for p in problems)


def _rows_section(rep: dict, t, by_row: dict, status: str, problem: str) -> str:
    served = rep.get("served_statuses")
    error_rows = {p["row"] for p in rep["problems"] if p["level"] == "error"}
    kinds = sorted({p["kind"] for p in rep["problems"] if p["row"] is not None})
    out = []
    for r in deadline.bounded(t.rows):
        problems = by_row.get(r.row, [])
        if not _keep(r, status, problem, problems):
            continue
        is_served = rep.get("loaded") and (served is None or r.status in served) and r.row not in error_rows
        notes = "".join(f'<div>{escape(p["level"])}: {escape(p["kind"])}: {escape(p["message"])}</div>' for p in problems)
        level = "error" if any(p["level"] == "error" for p in problems) else "warning" if problems else ""
        target = "no map" if r.no_map else f"<code>{escape(r.target_code)}</code>"
        out.append(f'<tr id="row-{r.row}" class="{level}"><td>{r.row}</td><td><code>{escape(r.source_code)}</code></td>'
                   f'<td>{escape(r.source_display)}</td><td>{target}</td><td>{escape(r.target_display)}</td>'
                   f'<td>{escape(r.r4_word or r.relationship or "")}</td><td>{_status(r.status)}</td>'
                   f'<td>{"yes" if is_served else "<span class=muted>no</span>"}</td><td>{escape(r.author)}</td>'
                   f'<td>{escape(r.reviewer)}</td><td>{escape(r.status_date)}</td>'
                   f'<td class="p-{level}">{notes}</td></tr>')
    return (f'<section class="table" id="rows"><h2>Rows ({len(out)} of {len(t.rows)})</h2>'
            f'{_filter_form(rep, kinds, status, problem)}<table class="grid" id="row-table"><tr><th>Row</th>'
            '<th>Source code</th><th>Source display</th><th>Target</th><th>Target display (spreadsheet)</th>'
            '<th>Relationship</th><th>Status</th><th>Served</th><th>Author</th><th>Reviewer</th><th>Date</th>'
            f'<th>Problems</th></tr>{"".join(out)}</table></section>')


def download(table_id: str, fmt: str) -> Response:
    store = _store()
    with store.time_limit():
        rep = _report(store, table_id)
        loaded = _table(store, rep)
        if loaded is None:
            raise NotFound(f"mapping table '{table_id}' was not loaded by this build", tx_type=None)
        data = export(loaded[0], fmt)
    name = f"{rep['name']}.{fmt}"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return Response(data, content_type=MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt == "csv" else ""),
                    headers={"Content-Disposition": f"attachment; filename=\"{ascii_name}\";"
                                                    f" filename*=UTF-8''{quote(name)}"})


def blueprint() -> Blueprint:
    bp = Blueprint("mappings_review", __name__)
    bp.add_url_rule("", "overview", overview, methods=["GET"])
    bp.add_url_rule("/", "overview_slash", overview, methods=["GET"])
    bp.add_url_rule("/<table_id>.<any(csv, xlsx):fmt>", "download", download, methods=["GET"])
    bp.add_url_rule("/<table_id>", "table", table_page, methods=["GET"])
    return bp
