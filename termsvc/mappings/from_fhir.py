"""ConceptMap (R4 or R5 JSON) -> table rows + metadata, and writing CSV + TOML.

A ConceptMap made by `to_fhir` comes back as the table it came from (same columns in
the same order, same rows in the same order, same cell text). Any other ConceptMap
becomes a table with the standard columns: one row per target, one per `noMap`
element (R4: target with equivalence `unmatched`); rows without a kept status are
`accepted` (they are what the ConceptMap publishes). A target's dependsOn is the row's `depends_on`
(a Coding as system|code, any other value as its text). Not represented: product,
group.unmapped, R5 properties.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Any

import tomli_w

from termsvc.fhir.convert import EXT_R4_EQUIVALENCE, quantity_text, to_r5
from termsvc.fhir.conceptmap_r4 import EXT_R5_RELATIONSHIP
from termsvc.fhir.conceptmap_match import case_insensitive
from termsvc.mappings.reading import Cells, SheetRow
from termsvc.mappings.columns import known_columns
from termsvc.mappings.table import META_KEYS, Table, load_meta, read_rows
from termsvc.mappings.to_fhir import (EXT_AUTHOR, EXT_COLUMN, EXT_DICOM_ATTRIBUTE, EXT_DICOM_SCHEME, EXT_NOMAP_COMMENT,
                                      EXT_REVIEWER, EXT_ROW, EXT_SHEET, EXT_STATUS, EXT_STATUS_DATE, EXT_TABLE,
                                      render_cells)
from termsvc.ops.context import build_cached

STANDARD_COLUMNS = ["source_system", "source_code", "source_display", "target_system", "target_code",
                    "target_display", "relationship", "no_map", "status", "comment"]
OPTIONAL_COLUMNS = ["author", "reviewer", "status_date", "depends_on"]


def extension_value(holder: dict, url: str):
    for x in holder.get("extension", []) or []:
        if x.get("url") == url:
            for k, v in x.items():
                if k.startswith("value"):
                    return v
    return None


def _column_cells(holder: dict) -> dict:
    out = {}
    for x in holder.get("extension", []) or []:
        if x.get("url") == EXT_COLUMN:
            sub = {s.get("url"): s.get("valueString") for s in x.get("extension", []) or []}
            if sub.get("name") is not None:
                out[sub["name"]] = sub.get("value") or ""
    return out


def _condition(depends_on: dict) -> tuple[str, str, str]:
    """A dependsOn (R5) as a row's condition (attribute, system or "", code)."""
    coding = depends_on.get("valueCoding")
    if isinstance(coding, dict):
        return depends_on.get("attribute") or "", coding.get("system") or "", str(coding.get("code") or "")
    value = next((v for k, v in depends_on.items() if k.startswith("value")), depends_on.get("valueSet"))
    if isinstance(value, dict):   # a Quantity
        value = quantity_text(value)
    return depends_on.get("attribute") or "", "", str(value).lower() if isinstance(value, bool) else str(value or "")


def table_extension_values(cm: dict) -> dict:
    """The `mapping-table` extension's values: `column` (the headers, in order), `file`, `delimiter`, ..."""
    out: dict[str, Any] = {"column": []}
    for x in cm.get("extension", []) or []:
        if x.get("url") == EXT_TABLE:
            for s in x.get("extension", []) or []:
                if s.get("url") == "column":
                    out["column"].append(s.get("valueString"))
                else:
                    out[s.get("url")] = s.get("valueString")
    return out


def concept_map_to_table(cm: dict):
    """(metadata dict, column headers, rows as dicts header -> cell)."""
    meta, columns, numbered = numbered_rows(cm)
    return meta, columns, [row for _, row in numbered]


def table_from_concept_map(cm: dict, name: str) -> Table:
    """The Table a ConceptMap of a table holds (a build's complete table), rows with their numbers."""
    meta, columns, numbered = numbered_rows(cm)
    t = Table(name=name, path=table_extension_values(cm).get("file") or f"{name}.csv")
    t.meta, problems = load_meta(meta)
    read_rows(t, Cells(columns, 1, [(n, [row[h] for h in columns]) for n, row in numbered]))
    t.problems[:0] = problems
    return t


def stored_table(store, rep: dict) -> tuple[dict, Table] | None:
    """(the complete ConceptMap the build stored for a table's report, its Table), made once per build
    and process; None when the build stored none (it could not read the table)."""
    def make():
        cm = store.mapping_table(rep["id"])
        return None if cm is None else (cm, table_from_concept_map(cm, rep["name"]))
    return build_cached(store, ("mappings", "stored-table", rep["id"]), make)


def numbered_rows(cm: dict):
    """(metadata dict, column headers, [(spreadsheet row number, row as a dict header -> cell)])."""
    cm = to_r5(cm)
    tx = table_extension_values(cm)
    meta = {}
    for key in ("url", "version", "name", "title", "status", "publisher", "description", "language"):
        if cm.get(key):
            meta[key] = cm[key]
    ss = cm.get("sourceScopeCanonical") or cm.get("sourceScopeUri")
    ts = cm.get("targetScopeCanonical") or cm.get("targetScopeUri")
    if ss:
        meta["source_scope"] = ss
    if ts:
        meta["target_scope"] = ts
    for key in ("source-system", "target-system", "default-status"):
        if tx.get(key):
            meta[key.replace("-", "_")] = tx[key]
    for key, url in (("dicom_attributes", EXT_DICOM_ATTRIBUTE), ("dicom_coding_schemes", EXT_DICOM_SCHEME)):
        values = [x.get("valueString") for x in cm.get("extension", []) or [] if x.get("url") == url]
        if values:
            meta[key] = values
    if any(case_insensitive(g) for g in cm.get("group", []) or []):
        meta["source_case_sensitive"] = False
    items = []   # (order, meaning, overrides)
    n = 0
    for g in cm.get("group", []) or []:
        gs = (g.get("source") or "").split("|")[0]
        gt = (g.get("target") or "").split("|")[0]
        for e in g.get("element", []) or []:
            base = {"source_system": gs, "source_code": e.get("code") or "",
                    "source_display": e.get("display") or ""}
            holders = []
            if e.get("noMap"):
                holders.append((e, None))
            for t in e.get("target", []) or []:
                holders.append((t, t))
            for holder, t in holders:
                d = dict(base)
                if t is None:
                    d.update(no_map=True, comment=extension_value(e, EXT_NOMAP_COMMENT) or "")
                else:
                    d.update(target_system=gt, target_code=t.get("code") or "",
                             target_display=t.get("display") or "",
                             relationship=t.get("relationship") or "",
                             r4_word=extension_value(t, EXT_R4_EQUIVALENCE), comment=t.get("comment") or "",
                             depends_on=tuple(_condition(x) for x in t.get("dependsOn") or [] if isinstance(x, dict)))
                    rel5 = extension_value(t, EXT_R5_RELATIONSHIP)
                    if rel5:   # an R4 copy of an R5-written relationship (termsvc.fhir.conceptmap_r4)
                        d.update(relationship=rel5, r4_word=None)
                d["status"] = extension_value(holder, EXT_STATUS) or "accepted"
                d["author"] = extension_value(holder, EXT_AUTHOR) or ""
                d["reviewer"] = extension_value(holder, EXT_REVIEWER) or ""
                d["status_date"] = extension_value(holder, EXT_STATUS_DATE) or ""
                rownum, sheet = extension_value(holder, EXT_ROW), extension_value(holder, EXT_SHEET)
                if isinstance(rownum, int) and isinstance(sheet, str):
                    rownum = SheetRow.at(rownum, sheet)
                items.append(((0, rownum, n) if isinstance(rownum, int) else (1, 0, n), d,
                              _column_cells(holder)))
                n += 1
    items.sort(key=lambda x: x[0])
    columns = tx["column"]
    if not columns:
        columns = list(STANDARD_COLUMNS)
        for c in OPTIONAL_COLUMNS:
            if any(d.get(c) for _, d, _ in items):
                columns.append(c)
        for _, _, over in items:
            for h in over:
                if h not in columns:
                    columns.append(h)
    rows = []
    known = {h: c for c, h in known_columns(columns).items()}
    for i, (order, d, over) in enumerate(items):
        regenerated = render_cells(d)
        row = {}
        for h in columns:
            row[h] = regenerated[known[h]] if h in known else ""
            if h in over:
                row[h] = over[h]
        rows.append((order[1] if order[0] == 0 else i + 2, row))
    return meta, columns, rows


def rows_to_csv(columns, rows, delimiter: str = ",", line_end: str = "\n", final_line_end: bool = True) -> str:
    """The CSV text of a table (cells quoted only where they must be, as spreadsheet programs write)."""
    buf = io.StringIO()
    # each record on its own: a cell holding any line break (\r or \n) is quoted, whatever `line_end` is
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    records = []
    for cells in [columns, *([r.get(h, "") for h in columns] for r in rows)]:
        buf.seek(0)
        buf.truncate()
        w.writerow(cells)
        records.append(buf.getvalue().removesuffix("\r\n"))
    return line_end.join(records) + (line_end if final_line_end else "")


def meta_to_toml(meta: dict) -> str:
    ordered = {k: meta[k] for k in META_KEYS if meta.get(k) not in (None, "", [])}
    return tomli_w.dumps(ordered)


def write_table(out_dir: str, name: str, meta: dict, columns, rows, delimiter: str = ",") -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, f"{name}.csv")
    toml_path = os.path.join(out_dir, f"{name}.toml")
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        f.write(rows_to_csv(columns, rows, delimiter))
    with open(toml_path, "w", encoding="utf-8") as f:
        f.write(meta_to_toml(meta))
    return csv_path, toml_path


def table_name_for(cm: dict, fallback: str) -> str:
    for x in cm.get("extension", []) or []:
        if x.get("url") == EXT_TABLE:
            for s in x.get("extension", []) or []:
                if s.get("url") == "file" and s.get("valueString"):
                    return os.path.splitext(s["valueString"])[0]
    return cm.get("id") or fallback
