"""The IG binding report as one self-contained HTML page (inline CSS, no scripts)."""
import datetime
from html import escape

from termsvc.bindings.report import FULLY, NOT, PARTLY

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#123a63;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:14px}main{padding:20px 28px}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th{text-align:left;background:#eef1f5;padding:6px 8px;border-bottom:1px solid #d5dae1}
td{padding:5px 8px;border-bottom:1px solid #edf0f3;vertical-align:top}
.v{font-weight:600;white-space:nowrap}.fully{color:#11643a}.partly{color:#7a5800}.not{color:#9b1c1c}
ul{margin:0;padding-left:16px}.small{color:#5a6475}
"""
CLASS = {FULLY: "fully", PARTLY: "partly", NOT: "not"}


def _list(items) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>" if items else ""


def render(rows, db_path: str) -> str:
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in (FULLY, PARTLY, NOT)}
    body = []
    for r in rows:
        b = r.binding
        needs = [f"{n.system} ({n.role} {n.how}): {n.held}" + (f" {n.version}" if n.version else "") for n in r.needs]
        body.append(
            f"<tr><td>{b.edition}</td><td>{escape(b.profile or 'FHIR core')}<br><span class=small>"
            f"{escape(b.resource_type)}.{escape(b.path)}</span></td><td>{escape(b.strength)}</td>"
            f"<td>{escape(b.value_set)}<br><span class=small>{escape(b.origin)}</span></td><td>{_list(needs)}</td>"
            f"<td class='v {CLASS[r.verdict]}'>{escape(r.verdict)}</td><td>{_list(r.problems)}</td>"
            f"<td>{_list(r.fixes)}</td></tr>")
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>IG binding report</title>"
            f"<style>{CSS}</style></head><body><header><h1>HL7 Europe Imaging Report IG: bindings</h1>"
            f"<p>{escape(db_path)} &middot; {stamp} &middot; {len(rows)} bindings: {counts[FULLY]} {FULLY},"
            f" {counts[PARTLY]} {PARTLY}, {counts[NOT]} {NOT}</p></header><main><table><tr><th>edition</th>"
            f"<th>profile / element</th><th>strength</th><th>value set</th><th>code systems needed: held</th>"
            f"<th>verdict</th><th>cannot judge</th><th>to load</th></tr>{''.join(body)}</table></main></body></html>\n")
