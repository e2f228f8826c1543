"""Reading a mapping table (CSV or XLSX, plus TOML metadata) into rows.

A table is `NAME.csv` or `NAME.xlsx` with `NAME.toml` next to it (an XLSX may carry
a `metadata` sheet of key/value rows instead of, or as well as, the TOML; the TOML
wins on a key both give). See mappings_csv/README.md for the contract.

Reading is forgiving about how spreadsheet programs write files (termsvc.mappings.reading:
encodings, delimiters, XLSX number formats, row numbers as the spreadsheet's) and strict about
what the cells mean. Header names are case-insensitive, blanks/hyphens count as `_` (`Source
Code` is `source_code`); any other column is kept with its header as written.

The row schema (marshmallow) turns a row's cells into its Row: one parser, which
also reports the cells it cannot read.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from termsvc.files import NotRegularFile, open_regular
from termsvc.fhir.conceptmap_match import fold
from termsvc.fhir.shape import control_character
from termsvc.fhir.convert import EQUIVALENCE_TO_RELATIONSHIP
from termsvc.mappings.mangled import mangled_codes
from termsvc.mappings.problems import Problem, cell_problems, code_problem, sheet_problems, shown
from termsvc.mappings.cells import read_cells
from termsvc.mappings.columns import KNOWN_COLUMNS, REQUIRED_COLUMNS, SOURCE_CODE_HEADERS, known_columns, unnamed_target
from termsvc.mappings.reading import canonical_header

TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")   # a table's name: its files' base name
DATA_SUFFIXES = (".csv", ".tsv", ".xlsx")

R5_RELATIONSHIPS = ["equivalent", "source-is-narrower-than-target", "source-is-broader-than-target",
                    "related-to", "not-related-to"]
R4_EQUIVALENCES = ["equal", "equivalent", "wider", "narrower", "subsumes", "specializes", "inexact",
                   "relatedto", "unmatched", "disjoint"]
ROW_STATUSES = ["draft", "in-review", "accepted", "rejected"]
UNSERVED_STATUSES = ("draft", "in-review", "rejected")   # a row of these says nothing to $translate yet
STATUS_ALIASES = {"in review": "in-review", "in_review": "in-review", "inreview": "in-review",
                  "review": "in-review"}
NO_MAP_TRUE = {"true", "yes", "y", "1", "x", "no map", "nomap", "no-map", "no_map",
               "sí", "si", "oui", "ja", "tak", "sim"}   # yes in the languages terminologists write
NO_MAP_FALSE = {"", "false", "no", "n", "0"}
CM_STATUSES = ["draft", "active", "retired", "unknown"]
# a row's cell that cannot be read -> the kind of its error
CELL_ERROR_KINDS = {"relationship": "unknown-relationship", "status": "unknown-status", "no_map": "unknown-no-map",
                    "source_code": "empty-source-code", "depends_on": "unreadable-depends-on"}

META_KEYS = ["url", "version", "name", "title", "status", "publisher", "description", "language", "source_scope",
             "target_scope", "source_system", "target_system", "default_status", "dicom_attributes",
             "dicom_coding_schemes", "source_case_sensitive"]


@dataclass
class Row:
    """One table row: the cells as written, and their meaning (None when invalid)."""
    row: int                       # spreadsheet row number
    cells: dict                    # header as written -> cell string (every column of the table)
    source_system: str = ""
    source_code: str = ""
    source_display: str = ""
    target_system: str = ""
    target_code: str = ""
    target_display: str = ""
    relationship: str | None = None   # R5 code
    r4_word: str | None = None        # the R4 equivalence word as the author wrote it, if any
    no_map: bool = False
    status: str | None = None
    comment: str = ""
    author: str = ""
    reviewer: str = ""
    status_date: str = ""
    # the conditions the mapping holds under (its target's dependsOn): (attribute, system or "", code) each
    depends_on: tuple = ()
    extras: dict = field(default_factory=dict)   # other columns: header -> value

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass
class Table:
    name: str
    path: str                      # the data file (csv/xlsx), or the toml if no data file
    meta: dict = field(default_factory=dict)
    columns: list = field(default_factory=list)   # headers as written, in file order
    colmap: dict = field(default_factory=dict)    # known column name -> header as written
    rows: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    delimiter: str | None = None   # how the CSV was written (None for an XLSX): see reading.Cells
    encoding: str | None = None
    line_end: str | None = None
    final_line_end: bool = True
    toml_path: str | None = None
    usable: bool = True            # False: the rows could not be read at all

    @property
    def file(self) -> str:
        return os.path.basename(self.path)

    def error(self, kind, row, message, column=None):
        self.problems.append(Problem("error", kind, self.file, row, message, column))

    def warning(self, kind, row, message, column=None):
        self.problems.append(Problem("warning", kind, self.file, row, message, column))

    @property
    def errors(self):
        return [p for p in self.problems if p.level == "error"]


# -- schemas -------------------------------------------------------------------------
class DicomAttributes(fields.Field):
    """The DICOM attributes a table serves (`termsvc dicom-codes`): a list of keywords
    (`BodyPartExamined`) or tags (`0018,0015`), or one text listing them (an XLSX metadata cell:
    `Laterality, ImageLaterality`); loaded as keywords."""

    ITEM = re.compile(r"\(?[0-9A-Fa-f]{4},\s*[0-9A-Fa-f]{4}\)?|[^\s,;]+")

    def _deserialize(self, value, attr, data, **kwargs):
        from pydicom.datadict import keyword_for_tag, tag_for_keyword
        items = value if isinstance(value, list) else self.ITEM.findall(str(value))
        out = []
        for item in (str(i).strip() for i in items):
            tag = re.fullmatch(r"\(?([0-9A-Fa-f]{4}),?\s*([0-9A-Fa-f]{4})\)?", item)
            keyword = keyword_for_tag(int(tag[1] + tag[2], 16)) if tag else item if tag_for_keyword(item) else None
            if not keyword:
                raise ValidationError(f"'{item}' is not a DICOM attribute keyword or tag")
            out.append(keyword)
        return out


class Words(fields.Field):
    """A list of words, or one text listing them (an XLSX metadata cell: `99ESCAT, 99SERMAS`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else re.split(r"[\s,;]+", str(value))
        return [str(i).strip() for i in items if str(i).strip()]


class MetadataSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String(required=True, validate=validate.Length(min=1))
    version = fields.String(load_default=None)
    name = fields.String(load_default=None)
    title = fields.String(load_default=None)
    status = fields.String(load_default="draft", validate=validate.OneOf(CM_STATUSES))
    publisher = fields.String(load_default=None)
    description = fields.String(load_default=None)
    # the language the table is written in (BCP 47, `de`, `es-ES`): the CSV delimiter of an XLSX table
    language = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"))
    source_scope = fields.String(load_default=None)
    target_scope = fields.String(load_default=None)
    source_system = fields.String(load_default=None)
    target_system = fields.String(load_default=None)
    default_status = fields.String(load_default="draft", validate=validate.OneOf(ROW_STATUSES))
    dicom_attributes = DicomAttributes(load_default=list)
    # the DICOM coding scheme designators of the local codes it maps (a code sequence's item of another
    # scheme is not translated by it; none declared: any local scheme)
    dicom_coding_schemes = Words(load_default=list)
    # false: source codes match ignoring case and surrounding blanks (PACS sends `chest` for `CHEST`)
    source_case_sensitive = fields.Boolean(load_default=True)


def normalize_status(text: str) -> str:
    t = (text or "").strip().lower()
    return STATUS_ALIASES.get(t, t)


def parse_relationship(text: str):
    """(R5 relationship, R4 word or None) for a cell: `unmatched` is (None, "unmatched");
    ValueError if unknown."""
    t = (text or "").strip().lower()
    if t == "unmatched":
        return None, "unmatched"
    if t in R5_RELATIONSHIPS:
        return t, None
    if t in EQUIVALENCE_TO_RELATIONSHIP:
        return EQUIVALENCE_TO_RELATIONSHIP[t], t
    raise ValueError(text)


class RelationshipCell(fields.String):
    """-> (R5 relationship or None, the R4 word written or None)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None, None
        try:
            return parse_relationship(text)
        except ValueError:
            raise ValidationError(f"unknown relationship '{text}' (R5: {', '.join(R5_RELATIONSHIPS)};"
                                  f" R4: {', '.join(R4_EQUIVALENCES)})") from None


class NoMapCell(fields.String):
    """-> True for a deliberate no-map."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        word = text.strip().lower()
        if word not in NO_MAP_TRUE and word not in NO_MAP_FALSE:
            raise ValidationError(f"unknown no_map value '{text}' (yes/no, true/false, x)")
        return word in NO_MAP_TRUE


class StatusCell(fields.String):
    """-> a review status, or None when the cell is empty (the table's default_status applies)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None
        status = normalize_status(text)
        if status not in ROW_STATUSES:
            raise ValidationError(f"unknown status '{text}' (one of {', '.join(ROW_STATUSES)})")
        return status


def parse_depends_on(text: str) -> tuple:
    """`laterality=http://snomed.info/sct|7771000; modality=CT` -> ((attribute, system or "", code), ...);
    ValueError for a condition that is not ATTRIBUTE=VALUE."""
    out = []
    for condition in re.split(r"[;\n]", text or ""):
        if not condition.strip():
            continue
        attribute, equals, value = (part.strip() for part in condition.partition("="))
        if not equals or not attribute or not value:
            raise ValueError(condition.strip())
        system, bar, code = value.rpartition("|")
        out.append((attribute, system.strip() if bar else "", code.strip() if bar else value))
    return tuple(out)


def depends_on_text(conditions) -> str:
    """The cell of a row's conditions, as parse_depends_on() reads it."""
    return "; ".join(f"{a}={s}|{c}" if s else f"{a}={c}" for a, s, c in conditions)


class DependsOnCell(fields.String):
    """-> the conditions a mapping holds under (its target's dependsOn in the ConceptMap)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_depends_on(text)
        except ValueError as e:
            raise ValidationError(f"'{e}' is no condition: write ATTRIBUTE=VALUE (a code, or system|code),"
                                  " conditions separated by ';'") from None


class CodeCell(fields.String):
    """A code as written: a character one cannot see (a NUL, a line break of a quoted cell, a zero-width or
    non-breaking space) is no part of one."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = code_problem(attr, text)
        if problem:
            raise ValidationError(problem)
        return text


class RowSchema(Schema):
    """A table row's known cells (strings, by canonical column name) -> its Row.

    One per table: the metadata gives the defaults of empty system and status cells. A cell
    that cannot be read is reported (ValidationError by column) and gets its neutral value."""

    class Meta:
        unknown = EXCLUDE

    line = fields.Raw(required=True)   # the row number as read (an int, or a reading.SheetRow: kept as it is)
    cells = fields.Dict(required=True)
    source_system = fields.String(load_default="")
    source_code = CodeCell(required=True, validate=validate.Length(min=1, error="source_code is empty"))
    source_display = fields.String(load_default="")
    target_system = fields.String(load_default="")
    target_code = CodeCell(load_default="")
    target_display = fields.String(load_default="")
    relationship = RelationshipCell(load_default=(None, None))
    no_map = NoMapCell(load_default=False)
    status = StatusCell(load_default=None)
    comment = fields.String(load_default="")
    author = fields.String(load_default="")
    reviewer = fields.String(load_default="")
    status_date = fields.String(load_default="")
    depends_on = DependsOnCell(load_default=())

    # the value of a cell that could not be read (its status: the table default does not apply)
    UNREADABLE = {"source_code": "", "target_code": "", "relationship": (None, None), "no_map": False,
                  "status": "invalid", "depends_on": ()}

    def __init__(self, meta: dict, colmap: dict):
        super().__init__()
        self.table_meta = meta
        self.colmap = colmap      # canonical column -> header as written
        self.headers = set(colmap.values())

    def row(self, line: int, cells: dict) -> tuple[Row, dict]:
        """(the Row, {column: [messages]} of the cells that could not be read)."""
        known = {c: cells[h] for c, h in self.colmap.items()}
        try:
            return self.load({"line": line, "cells": cells, **known}), {}
        except ValidationError as e:
            assert isinstance(e.messages, dict) and isinstance(e.valid_data, dict)   # (a schema's: by field)
            return self.make_row({**self.UNREADABLE, **e.valid_data, "line": line, "cells": cells}), e.messages

    @post_load
    def make_row(self, data: dict, **_kwargs) -> Row:
        meta = self.table_meta
        relationship, r4_word = data["relationship"]
        no_map = data["no_map"] or (r4_word == "unmatched" and not data["target_code"])
        status = data["status"] or meta.get("default_status") or "draft"   # "invalid" stays: no status
        target_system = data["target_system"]
        if data["target_code"] or not data["no_map"]:
            target_system = target_system or meta.get("target_system") or ""
        return Row(row=data["line"], cells=data["cells"],
                   source_system=data["source_system"] or meta.get("source_system") or "",
                   source_code=data["source_code"], source_display=data["source_display"],
                   target_system=target_system, target_code=data["target_code"],
                   target_display=data["target_display"], relationship=relationship, r4_word=r4_word,
                   no_map=no_map, status=status if status in ROW_STATUSES else None, comment=data["comment"],
                   author=data["author"], reviewer=data["reviewer"], status_date=data["status_date"],
                   depends_on=data["depends_on"], extras={h: v for h, v in data["cells"].items() if h not in self.headers})


META_SCHEMA = MetadataSchema()


# -- reading files ---------------------------------------------------------------------
def find_tables(paths) -> list[str]:
    """Table base paths (without suffix) for files or folders; a folder means every table in it."""
    out = []
    for p in paths:
        p = os.path.abspath(p)
        if os.path.isdir(p):
            bases = set()
            for fn in sorted(os.listdir(p)):
                base, ext = os.path.splitext(fn)
                if ext.lower() in DATA_SUFFIXES + (".toml",) and not fn.startswith((".", "~$")):
                    bases.add(os.path.join(p, base))
            out.extend(sorted(bases))
        else:
            out.append(os.path.splitext(p)[0])
    seen, uniq = set(), []
    for b in out:
        if b not in seen:
            seen.add(b)
            uniq.append(b)
    return uniq


def data_file_for(base: str) -> str | None:
    for ext in DATA_SUFFIXES:
        for cand in (base + ext, base + ext.upper()):
            if os.path.exists(cand):
                return cand
    return None


def read_table(path: str) -> Table:
    """Read a table given its data file, its TOML, or its base path. Never raises:
    problems (unreadable file, missing column, invalid cells) are in `table.problems`."""
    base = os.path.splitext(os.path.abspath(path))[0] if os.path.splitext(path)[1].lower() in \
        DATA_SUFFIXES + (".toml",) else os.path.abspath(path)
    name = os.path.basename(base)
    data_path = data_file_for(base)
    toml_path = base + ".toml" if os.path.exists(base + ".toml") else None
    t = Table(name=name, path=data_path or (toml_path or base + ".csv"), toml_path=toml_path)
    meta = {}
    cells = None
    if data_path is None:
        t.usable = False
        folder = os.path.dirname(base)
        others = [f for f in sorted(os.listdir(folder) if os.path.isdir(folder) else ()) if os.path.splitext(f)[0]
                  == name and os.path.splitext(f)[1].lower() not in DATA_SUFFIXES + (".toml",)]
        t.error("unreadable", None, f"no data file {name}.csv or {name}.xlsx next to {name}.toml" + (
            f" ({', '.join(others)} is not read: save it as Excel Workbook (.xlsx) or CSV)" if others else ""))
    else:
        try:
            cells = read_cells(data_path, header=SOURCE_CODE_HEADERS)
            t.delimiter, t.encoding = cells.delimiter, cells.encoding
            t.line_end, t.final_line_end = cells.line_end, cells.final_line_end
        except (ValueError, OSError) as e:
            t.usable = False
            t.error("unreadable", None, str(e))
    sheet_meta = cells.meta if cells else {}
    meta.update(sheet_meta)
    if toml_path:
        try:
            with open_regular(toml_path) as f:
                meta.update({canonical_header(k): v for k, v in tomllib.load(f).items()})
        except (tomllib.TOMLDecodeError, OSError) as e:
            t.usable = False
            t.problems.append(Problem("error", "unreadable", os.path.basename(toml_path), None,
                                      f"TOML: {e.strerror if isinstance(e, NotRegularFile) else e}"))
    elif cells is not None and not sheet_meta:   # (a file that cannot be read is error enough)
        t.usable = False
        t.error("missing-metadata", None, f"no metadata: {name}.toml (or an XLSX 'metadata' sheet) is missing")
    if meta:
        t.meta, problems = load_meta(meta, os.path.basename(toml_path or t.path))
        t.problems += problems
        t.usable = t.usable and not any(p.level == "error" for p in problems)
    if cells is None or not t.usable:
        return t
    read_rows(t, cells)
    return t


def load_meta(meta: dict, file: str = "") -> tuple[dict, list]:
    """(the metadata, checked, with its defaults; [Problem]) of a table's metadata keys and values."""
    problems = []
    try:
        loaded = META_SCHEMA.load({k: (v if isinstance(v, (list, bool)) or v is None else str(v))
                                   for k, v in meta.items()})
    except ValidationError as e:
        assert isinstance(e.messages, dict)   # (a schema's: by field)
        loaded = {}
        problems += [Problem("error", "invalid-metadata", file, None, f"metadata '{k}': {'; '.join(map(str, msgs))}")
                     for k, msgs in e.messages.items()]
    problems += [Problem("error", "invalid-metadata", file, None, f"metadata '{k}': '{shown(v)}' holds {control}")
                 for k, v in meta.items() if isinstance(v, str) and (control := control_character(v))]
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        problems.append(Problem("warning", "unknown-metadata", file, None, f"metadata keys ignored: {', '.join(unknown)}"))
    return loaded, problems


def read_rows(t: Table, cells):
    """The table's columns and rows from its cells; every problem a row has, row by row."""
    headers, raw_rows = cells.headers, cells.rows
    # columns: trailing/unnamed empty columns dropped
    cols = [(i, h or f"column_{i + 1}") for i, h in enumerate(headers)
            if h or any(i < len(raw) and raw[i].strip() for _, raw in raw_rows)]
    t.columns = [h for _, h in cols]
    seen = known_columns([h for _, h in cols])
    for _, h in cols:
        c = canonical_header(h)
        if c in KNOWN_COLUMNS and seen[c] != h:
            t.usable = False
            t.error("duplicate-column", cells.header_line, f"column '{h}' given twice (also '{seen[c]}')", h)
    for _, h in cols:
        control = control_character(h)
        if control:   # (a header is a ConceptMap's text too: the column's name)
            t.usable = False
            t.error("invalid-cell", cells.header_line, f"column '{shown(h)}' holds {control} in its header", h)
    t.colmap = seen
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        t.usable = False
        t.error("missing-column", cells.header_line, f"missing required column(s): {', '.join(missing)}"
                f" (found: {shown(', '.join(t.columns))})")
        return
    by_header = {h: i for i, h in cols}
    malformed = {}   # line -> the cells read from it (a row left out)

    def left_out(line, message, raw):
        t.error("malformed-row", line, message)
        malformed[line] = raw

    for line, message, raw in cells.bad:
        left_out(line, message, raw)
    t.problems += sheet_problems(t.file, cells, cols, "a mapping", "source_code")
    codes = {seen[c]: c == "target_code" for c in ("source_code", "target_code") if c in seen}
    t.problems += mangled_codes(t.file, cells, [(i, h) for i, h in cols if h in codes])
    displays = {seen[c] for c in ("source_display", "target_display") if c in seen}
    systems = {seen[c] for c in ("source_system", "target_system") if c in seen}
    schema = RowSchema(t.meta, seen)
    for line, raw in raw_rows:
        surplus = [c for c in raw[len(headers):] if c.strip()]
        if surplus:
            left_out(line, f"the row has {len(headers) + len(surplus)} cells, the header {len(headers)}"
                     f" (a delimiter '{t.delimiter}' inside an unquoted cell?)", raw)
            continue
        row_cells = {h: (raw[i].strip() if i < len(raw) else "") for i, h in cols}
        r, errors = schema.row(line, row_cells)
        for column, messages in errors.items():
            written = row_cells.get(seen.get(column, ""), "")
            kind = "invalid-cell" if column == "source_code" and written else CELL_ERROR_KINDS.get(column, "invalid-cell")
            t.error(kind, line, "; ".join(map(str, messages)), seen.get(column, column))
        t.problems += cell_problems(t.file, cells, line, raw, cols, codes, displays, systems)
        if not errors:
            structural_row_checks(t, r)
        t.rows.append(r)
    table_checks(t)
    by_row = {r.row: r for r in t.rows}
    for p in t.problems:   # named by the row's source code and display (of a left-out row: its cells)
        named, raw = by_row.get(p.row), malformed.get(p.row)
        if named is not None:
            p.source_code, p.source_display = named.source_code, named.source_display
        elif raw is not None:
            code, display = (by_header.get(seen.get(c)) for c in ("source_code", "source_display"))
            p.source_code = raw[code].strip() if code is not None and code < len(raw) else ""
            p.source_display = raw[display].strip() if display is not None and display < len(raw) else ""
    t.problems.sort(key=lambda p: p.row or 0)


def structural_row_checks(t: Table, r: Row):
    col = t.colmap.get
    unmatched = r.r4_word == "unmatched"
    if r.no_map and r.target_code:
        t.error("no-map-with-target", r.row, f"no_map is set but a target code is given ({r.target_code})",
                col("no_map"))
    elif unmatched and r.target_code:
        t.error("unknown-relationship", r.row, "relationship 'unmatched' means no map, but a target"
                f" code is given ({r.target_code})", col("relationship"))
    elif not r.no_map and not r.target_code and r.status in UNSERVED_STATUSES:   # a code still to map: work to do
        t.warning("empty-target", r.row, f"not mapped yet ({r.status}): no target code and no_map not set",
                  col("target_code") or "target_code")
    elif not r.no_map and not r.target_code:
        t.error("empty-target", r.row, "no target code and no_map not set (set no_map for a"
                " deliberate no-map)", col("target_code") or "target_code")
    elif not r.no_map and not r.relationship:
        t.error("missing-relationship", r.row, "a mapped row needs a relationship",
                col("relationship") or "relationship")
    if not r.source_system:
        t.error("missing-system", r.row, "no source_system (column empty and no default in the metadata)",
                col("source_system") or "source_system")
    if r.target_code and not r.target_system:
        t.error("missing-system", r.row, "no target_system (column empty and no default in the metadata)",
                col("target_system") or "target_system")


def table_checks(t: Table):
    """Duplicates between rows, and codes differing only in case (the conflicts between rows are
    judged with what a build serves: termsvc.mappings.lint)."""
    pairs: dict[tuple, Row] = {}      # (ss, sc, ts, tc) -> first row
    nomaps: dict[tuple, Row] = {}     # (ss, sc) -> first no-map row
    unnamed = unnamed_target(t.columns, t.colmap)
    if unnamed and any(r.cells.get(unnamed) for r in t.rows):
        t.warning("unnamed-target-column", None, f"no target_code column: is '{unnamed}' the target code? Its"
                  f" cells are kept as an extra column and map nothing; name its header target_code", unnamed)
    for r in t.rows:
        if r.no_map and r.depends_on:
            t.warning("depends-on-no-map", r.row, f"{r.source_code} is marked no_map: a no-map holds whatever the"
                      " conditions, so depends_on says nothing here", t.colmap.get("depends_on"))
        if r.no_map:
            key: tuple = (r.source_system, r.source_code)
            if key in nomaps:
                t.error("duplicate-row", r.row, f"duplicate no-map for {r.source_code}"
                        f" (same as row {nomaps[key].row})")
            else:
                nomaps[key] = r
            continue
        if not r.target_code or not r.relationship:
            continue
        key = (r.source_system, r.source_code, r.target_system, r.target_code, frozenset(r.depends_on))
        first = pairs.setdefault(key, r)
        if first is not r and first.relationship == r.relationship:
            t.error("duplicate-row", r.row, f"{r.source_code} -> {r.target_code} duplicates row {first.row}")
    case_checks(t)


def case_checks(t: Table):
    """Rows whose source codes differ only in case (or blanks): in a table that matches codes ignoring
    case both answer for either code; in one that does not, the source system rarely means two codes."""
    folded = not t.meta.get("source_case_sensitive", True)
    first: dict[tuple, tuple[int, str]] = {}   # (system, folded code) -> (first row, its code)
    for r in t.rows:
        key = (r.source_system, fold(r.source_code))
        seen = first.setdefault(key, (r.row, r.source_code))
        if seen[1] != r.source_code:
            t.warning("case-duplicate", r.row, f"source code '{r.source_code}' differs from '{seen[1]}' (row"
                      f" {seen[0]}) only in case: " + (
                          "the table matches codes ignoring case, so both answer for either" if folded else
                          "the table matches codes as written, so each answers only for itself; if the source"
                          " system means one code, merge them (or set source_case_sensitive = false)"),
                      t.colmap.get("source_code"))
