"""The lint report as one self-contained HTML page (inline CSS, no scripts, no external assets)."""
from __future__ import annotations

import datetime
from html import escape

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#123a63;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:14px}
main{padding:20px 28px;max-width:1200px}
.summary{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.pill{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.pill b{font-size:20px;display:block}
section.table{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.1);margin-bottom:22px;padding:18px 22px}
section.table h2{margin:0 0 4px;font-size:18px}
.meta{color:#5a6475;font-size:13px;margin-bottom:10px;word-break:break-all}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;margin-left:6px}
.b-ok{background:#d9f2e3;color:#11643a}.b-err{background:#fbdcdc;color:#9b1c1c}.b-warn{background:#fff0c9;color:#7a5800}
.bar{display:flex;height:22px;border-radius:6px;overflow:hidden;background:#e6e8ec;margin:8px 0 4px}
.bar div{height:100%}
.c-map{background:#2e9e5b}.c-nomap{background:#8d99ae}.c-none{background:#e05252}
.legend{font-size:13px;color:#3b4455}
.legend span{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px 0 12px;vertical-align:-1px}
table.grid{border-collapse:collapse;width:100%;font-size:13px;margin-top:8px}
table.grid th{text-align:left;background:#eef1f5;padding:6px 8px;border-bottom:1px solid #d5dae1}
table.grid td{padding:5px 8px;border-bottom:1px solid #edf0f3;vertical-align:top}
tr.error td:first-child{border-left:4px solid #e05252}tr.warning td:first-child{border-left:4px solid #e6b325}
details{margin-top:10px}summary{cursor:pointer;font-weight:600}
.codes{columns:3;font-size:13px;margin:8px 0 0;padding-left:18px}
.pending{color:#7a5800;font-size:11px}
.counts{font-size:13px;color:#3b4455}
.note{background:#fff7e0;border-left:4px solid #e6b325;padding:8px 12px;margin-bottom:12px;font-size:14px}
"""


def _pct(n, total):
    return 0 if not total else 100.0 * n / total


def _table_section(t: dict) -> str:
    e, w = t["errors"], t["warnings"]
    badge = ('<span class="badge b-err">%d error%s</span>' % (e, "" if e == 1 else "s") if e
             else '<span class="badge b-ok">no errors</span>')
    if w:
        badge += '<span class="badge b-warn">%d warning%s</span>' % (w, "" if w == 1 else "s")
    out = [f'<section class="table" id="{escape(t["name"])}"><h2>{escape(t.get("title") or t["name"])}{badge}</h2>']
    out.append(f'<div class="meta">{escape(t["file"])} &middot; {escape(t.get("url") or "")}</div>')
    if not t["usable"]:
        out.append('<div class="note">This table could not be read; fix the problems below first.</div>')
    sc = t.get("status_counts") or {}
    out.append('<div class="counts">%d rows: %s</div>' % (
        t["rows"], ", ".join(f"{escape(k)} {v}" for k, v in sc.items()) or "none"))
    cov = t.get("coverage")
    out.append(coverage_bar(cov))
    if cov and cov.get("evaluable"):
        if cov["unmapped_codes"]:
            items = "".join(
                f'<li><code>{escape(u["code"])}</code> {escape(u.get("display") or "")}'
                + (' <span class="pending">(rows pending review)</span>' if u.get("pending") else "")
                + "</li>" for u in cov["unmapped_codes"])
            out.append(f'<details open><summary>Unmapped codes ({cov["unmapped"]})</summary>'
                       f'<ul class="codes">{items}</ul></details>')
    probs = t["problems"]
    if probs:
        out.append(f'<details {"open" if e else ""}><summary>Problems by row ({len(probs)})</summary>'
                   f'{problems_table(probs)}</details>')
    out.append("</section>")
    return "".join(out)


def coverage_bar(cov: dict | None) -> str:
    """The coverage of the source scope as a bar (mapped, no map, nothing) and its legend."""
    if not cov:
        return ""
    if not cov.get("evaluable"):
        return f'<div class="note">Coverage not computed: {escape(cov.get("reason") or "")}</div>'
    tot = cov["total"]
    return ('<div class="bar" title="coverage of the source scope">'
            f'<div class="c-map" style="width:{_pct(cov["mapped"], tot):.2f}%"></div>'
            f'<div class="c-nomap" style="width:{_pct(cov["no_map"], tot):.2f}%"></div>'
            f'<div class="c-none" style="width:{_pct(cov["unmapped"], tot):.2f}%"></div></div>'
            f'<div class="legend">{cov["percent_covered"]}% of {tot} codes in '
            f'<code>{escape(cov["scope"])}</code> covered'
            f'<span class="c-map"></span>mapped {cov["mapped"]}'
            f'<span class="c-nomap"></span>no map {cov["no_map"]}'
            f'<span class="c-none"></span>nothing {cov["unmapped"]}</div>')


def problems_table(problems: list[dict]) -> str:
    """Problems (as_dict) by row: row number, the row's source code and display, and what is wrong."""
    rows = "".join(
        f'<tr class="{escape(p["level"])}"><td>{p["row"] or ""}</td><td><code>{escape(p.get("source_code") or "")}'
        f'</code></td><td>{escape(p.get("source_display") or "")}</td><td>{escape(p["level"])}</td>'
        f'<td>{escape(p["kind"])}</td><td>{escape(p.get("column") or "")}</td>'
        f'<td>{escape(p["message"])}</td></tr>' for p in problems)
    return ('<table class="grid problems"><tr><th>Row</th><th>Source code</th><th>Source display</th><th>Level</th>'
            f'<th>Kind</th><th>Column</th><th>Message</th></tr>{rows}</table>')


def render(report) -> str:
    d = report.as_dict() if hasattr(report, "as_dict") else report
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             "<title>Mapping tables check</title><style>", CSS, "</style></head><body>",
             "<header><h1>Mapping tables check</h1>",
             f"<p>{when} &middot; database: {escape(d.get('db') or 'none')}</p></header><main>"]
    for n in d.get("notes") or []:
        parts.append(f'<div class="note">{escape(n)}</div>')
    parts.append('<div class="summary">'
                 f'<div class="pill"><b>{len(d["tables"])}</b>tables</div>'
                 f'<div class="pill"><b>{sum(t["rows"] for t in d["tables"])}</b>rows</div>'
                 f'<div class="pill"><b>{d["errors"]}</b>errors</div>'
                 f'<div class="pill"><b>{d["warnings"]}</b>warnings</div></div>')
    for t in d["tables"]:
        parts.append(_table_section(t))
    parts.append("</main></body></html>\n")
    return "".join(parts)
