"""The HTML of termsvc: Jinja2 templates (autoescaped) for the review page, the mapping check and diff
reports and the IG binding report. Pages are self-contained (inline CSS, no scripts, no external assets).

    html = render("mappings_check.html", report=report.as_dict())
"""
import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

ENV = Environment(loader=PackageLoader("termsvc.templates", ""),
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def plural(n: int, word: str) -> str:
    """`1 error`, `2 errors`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def percent(n: int, total: int) -> float:
    return 0.0 if not total else 100.0 * n / total


ENV.filters.update(plural=plural, percent=percent, pair=lambda v: (v, v))
ENV.globals.update(now=lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def render(name: str, **context) -> str:
    """The page of template `name` with this context."""
    return ENV.get_template(name).render(**context)
