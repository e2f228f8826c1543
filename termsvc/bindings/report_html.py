"""The IG binding report as one self-contained HTML page (templates/bindings_report.html)."""
import datetime

from termsvc.bindings.report import FULLY, NOT, PARTLY
from termsvc.templates import render as render_template

CLASS = {FULLY: "fully", PARTLY: "partly", NOT: "not"}


def render(rows, db_path: str) -> str:
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in (FULLY, PARTLY, NOT)}
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return render_template("bindings_report.html", rows=rows, db_path=db_path, stamp=stamp, counts=counts,
                           verdicts=(FULLY, PARTLY, NOT), css_class=CLASS)
