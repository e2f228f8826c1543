"""The check report as one self-contained HTML page (templates/mappings_check.html)."""
from termsvc.templates import render as render_template


def render(report) -> str:
    """The page of a check Report (or its as_dict())."""
    return render_template("mappings_check.html", report=report.as_dict() if hasattr(report, "as_dict") else report)
