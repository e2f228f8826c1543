"""Codes a spreadsheet program may have changed before the file was saved, told from the cells around them: a
CSV keeps no cell types, so `1-2` that Excel showed as `1-Feb`, `0012` it showed as `12` or `1.10` as `1.1`
reach the file as text. A code column's cell is suspected when it

- is a date with a month's name (`1-Feb`, `Feb-01`, `01-févr.-23`): no code is one;
- is a date in figures (`01.02.2023`, `2023-02-01`, `02/01/2023`) while most of the column's codes are not;
- is a number that lost its leading zeros (`12` among `0011`, `0013`: the column's digit codes mostly of one
  width, some of them starting with 0);
- is a decimal number that lost trailing zeros (`1.1` or `1` among `1.10`, `1.20`, `1,30`: the column's decimal
  codes mostly of one number of decimals, some ending in 0).

Each is a row-level warning naming the suspicion and the code it may have been; the code is read as written.
A cell whose type an XLSX records (reading.Cells.notes) is said there already.
"""
from __future__ import annotations

import re
from collections import Counter

from termsvc.mappings.problems import Problem

MONTHS = ("jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|"          # en
          "mär|mrz|mai|okt|dez|"                                           # de
          "ene|abr|ago|dic|"                                               # es
          "janv|févr|fevr|mars|avr|juin|juil|août|aout|déc|"               # fr
          "gen|mag|giu|lug|ott|set|"                                       # it, pt
          "mrt|mei|"                                                       # nl
          "fev|out|"                                                       # pt
          "sty|lut|kwi|maj|cze|lip|sie|wrz|paź|paz|lis|gru")               # pl
NAMED_DATE = re.compile(rf"(?:\d{{1,2}}[-. /]+(?:{MONTHS})\.?(?:[-. /]\d{{2,4}})?|(?:{MONTHS})\.?[-. /]\d{{1,4}})", re.I)
NUMERIC_DATES = [
    (re.compile(r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:19|20)\d\d"), "dd.mm.yyyy"),
    (re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"), "yyyy-mm-dd"),
    (re.compile(r"(?:0?[1-9]|[12]\d|3[01])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)?\d\d"), "dd/mm/yyyy"),
]
DIGITS = re.compile(r"\d+")
DECIMAL = re.compile(r"(\d+)([.,])(\d+)")


def mangled_codes(file: str, cells, columns: list) -> list[Problem]:
    """The warnings of the code columns `columns` ([(index, header)]) of `cells` (reading.Cells), row by row."""
    out = []
    for i, header in columns:
        texts = [(line, raw[i].strip()) for line, raw in cells.rows
                 if i < len(raw) and raw[i].strip() and (line, i) not in cells.notes]
        column = Column([t for _, t in texts])
        for line, text in texts:
            why = column.suspicion(text)
            if why:
                out.append(Problem("warning", "typed-cell", file, line, f"{header} '{text}' {why}; the code is read as"
                                   " written: check it against the source, and store the column as text", header))
    return out


class Column:
    """What a code column's cells have in common: the dominant width of its digit codes (when zeros lead some),
    the dominant number of decimals of its decimal codes (when zeros end some), its share of dates."""

    def __init__(self, texts: list):
        self.dates = sum(1 for t in texts if _numeric_date(t))
        self.total = len(texts)
        digits = [t for t in texts if DIGITS.fullmatch(t)]
        self.width = _dominant([len(t) for t in digits]) if any(t[0] == "0" and len(t) > 1 for t in digits) else None
        decimals = [m for t in texts if (m := DECIMAL.fullmatch(t))]
        places = _dominant([(m.group(2), len(m.group(3))) for m in decimals])
        self.places = places if places and any(m.group(3).endswith("0") for m in decimals) else None
        self.decimal_share = len(decimals) / len(texts) if texts else 0

    def suspicion(self, text: str) -> str | None:
        if NAMED_DATE.fullmatch(text):
            return "is a date as a spreadsheet program shows one: it may have taken the code typed for a date"
        form = _numeric_date(text)
        if form and self.dates * 2 < self.total:
            return (f"is a date ({form}) where the column's other codes are not: a spreadsheet program may have"
                    " taken the code typed for a date")
        if self.width and DIGITS.fullmatch(text) and len(text) < self.width and text[0] != "0":
            return (f"is shorter than the column's codes of {self.width} digits: it may have lost its leading zeros"
                    f" ({text.zfill(self.width)}?) when a spreadsheet program took it for a number")
        if self.places:
            separator, places = self.places
            m = DECIMAL.fullmatch(text)
            if m and m.group(2) == separator and len(m.group(3)) < places:
                return (f"has fewer decimals than the column's codes ({places}): it may have lost trailing zeros"
                        f" ({text}{'0' * (places - len(m.group(3)))}?) when a spreadsheet program took it for a number")
            if DIGITS.fullmatch(text) and self.decimal_share > 0.5:
                return (f"is a whole number where the column's codes have {places} decimals: it may have lost them"
                        f" ({text}{separator}{'0' * places}?) when a spreadsheet program took it for a number")
        return None


def _numeric_date(text: str) -> str | None:
    return next((form for pattern, form in NUMERIC_DATES if pattern.fullmatch(text)), None)


def _dominant(values: list):
    """The value most of `values` share (at least two of them, and half), or None."""
    if not values:
        return None
    value, n = Counter(values).most_common(1)[0]
    return value if n >= 2 and n * 2 >= len(values) else None
