"""Table rows -> R5 ConceptMap, losslessly.

Shape:
- one group per (source_system, target_system), in order of first appearance; a
  no-map row goes to the group of its source system and the table's default target
  system; one element per source code; one target per mapped row.
- a row's `depends_on` (`attribute=system|code; ...`) as its target's `dependsOn` (a Coding, or a
  `valueCode`), each attribute declared once in `additionalAttribute` (its `uri` when it is one);
- `noMap: true` on the element of a no-map row; its comment in the standard
  `conceptmap-nomap-comment` extension.
- Per row, on the target (or on the element for a no-map row), extensions under
  `http://termsvc.local/fhir/StructureDefinition/`: `mapping-row` (spreadsheet row,
  for the order on export), `mapping-status`, `mapping-author`, `mapping-reviewer`,
  `mapping-status-date`; the author's R4 equivalence word in the standard
  cross-version extension (termsvc.fhir.convert.EXT_R4_EQUIVALENCE).
- `mapping-column` (sub-extensions `name`, `value`): a cell of an extra column, or a
  known column's cell whose text cannot be regenerated from the structure (a `Wider`
  relationship, `x` as no_map, an empty system cell that the default filled...).
  Export regenerates the known cells and then applies these, so CSV -> ConceptMap ->
  CSV gives back the same cells.
- On the ConceptMap, `mapping-table`: the column headers as written, in order
  (`column`), the file name, how a CSV was written (`delimiter`, `encoding`, `line-end`, and
  `final-line-end: no` when its last line has no line break), and the metadata defaults.
"""
from __future__ import annotations

import re

from termsvc.fhir.conceptmap_match import EXT_SOURCE_CASE_INSENSITIVE
from termsvc.fhir.convert import EXT_NOMAP_COMMENT, EXT_R4_EQUIVALENCE
from termsvc.mappings.reading import SheetRow
from termsvc.mappings.table import Row, Table, depends_on_text

EXT_BASE = "http://termsvc.local/fhir/StructureDefinition/"
EXT_TABLE = EXT_BASE + "mapping-table"
EXT_ROW = EXT_BASE + "mapping-row"      # the row's place (of a workbook read across sheets: reading.SheetRow)
EXT_SHEET = EXT_BASE + "mapping-sheet"  # ... and then the sheet the row is on
EXT_STATUS = EXT_BASE + "mapping-status"
EXT_AUTHOR = EXT_BASE + "mapping-author"
EXT_REVIEWER = EXT_BASE + "mapping-reviewer"
EXT_STATUS_DATE = EXT_BASE + "mapping-status-date"
EXT_COLUMN = EXT_BASE + "mapping-column"
EXT_DICOM_ATTRIBUTE = EXT_BASE + "dicom-attribute"   # the DICOM attribute (keyword) a table serves
EXT_DICOM_SCHEME = EXT_BASE + "dicom-coding-scheme"  # a coding scheme designator of the local codes it maps
NO_MAP_YES = "yes"
LINE_END_NAMES = {"\r\n": "crlf", "\n": "lf", "\r": "cr", None: "lf"}


def fhir_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-.]", "-", name)[:64]


def render_cells(d: dict) -> dict:
    """The cell text of each known column, regenerated from a row's meaning."""
    rel = "" if d.get("no_map") else (d.get("r4_word") or d.get("relationship") or "")
    return {
        "source_system": d.get("source_system") or "",
        "source_code": d.get("source_code") or "",
        "source_display": d.get("source_display") or "",
        "target_system": "" if d.get("no_map") else (d.get("target_system") or ""),
        "target_code": d.get("target_code") or "",
        "target_display": d.get("target_display") or "",
        "relationship": rel,
        "no_map": NO_MAP_YES if d.get("no_map") else "",
        "status": d.get("status") or "",
        "comment": d.get("comment") or "",
        "author": d.get("author") or "",
        "reviewer": d.get("reviewer") or "",
        "status_date": d.get("status_date") or "",
        "depends_on": "" if d.get("no_map") else depends_on_text(d.get("depends_on") or ()),
    }


def _column_ext(name: str, value: str) -> dict:
    return {"url": EXT_COLUMN, "extension": [{"url": "name", "valueString": name},
                                             {"url": "value", "valueString": value}]}


def table_extension(t: Table) -> dict:
    sub = [{"url": "column", "valueString": h} for h in t.columns]
    sub.append({"url": "file", "valueString": t.file})
    if t.delimiter:   # how the CSV was written, to write it back the same (termsvc.mappings.export)
        sub.append({"url": "delimiter", "valueString": t.delimiter})
        sub.append({"url": "encoding", "valueString": t.encoding})
        sub.append({"url": "line-end", "valueString": LINE_END_NAMES[t.line_end]})
        if not t.final_line_end:
            sub.append({"url": "final-line-end", "valueString": "no"})
    for key in ("source_system", "target_system", "default_status"):
        if t.meta.get(key) and not (key == "default_status" and t.meta[key] == "draft"):
            sub.append({"url": key.replace("_", "-"), "valueString": t.meta[key]})
    return {"url": EXT_TABLE, "extension": sub}


def concept_map_from_table(t: Table, statuses: set | None = None, rows: list | None = None,
                           displays: dict | None = None) -> dict:
    """The R5 ConceptMap of a table: every row, or only the rows with these `statuses`, or the
    `rows` given. `displays` ((system, code) -> display): the target displays to serve instead of
    the spreadsheet's (which then stays in a `mapping-column` extension, for export)."""
    m = t.meta
    known = {h: c for c, h in t.colmap.items()}   # header -> the known column it is
    cm = {"resourceType": "ConceptMap", "id": fhir_id(t.name),
          "extension": [table_extension(t)] + [{"url": EXT_DICOM_ATTRIBUTE, "valueString": a}
                                               for a in m.get("dicom_attributes") or []]
          + [{"url": EXT_DICOM_SCHEME, "valueString": s} for s in m.get("dicom_coding_schemes") or []],
          "url": m["url"]}
    for key in ("version", "name", "title", "status", "publisher", "description", "language"):
        if m.get(key):
            cm[key] = m[key]
    cm.setdefault("status", "draft")
    if m.get("source_scope"):
        cm["sourceScopeCanonical"] = m["source_scope"]
    if m.get("target_scope"):
        cm["targetScopeCanonical"] = m["target_scope"]
    default_ts = m.get("target_system") or ""
    displays = displays or {}
    groups: dict = {}
    attributes: dict[str, set] = {}   # the attributes targets depend on -> their values' types
    placed: list[tuple[Row, dict, dict | None]] = []   # (row, element, target|None)
    for r in (t.rows if rows is None else rows):
        if statuses is not None and r.status not in statuses:
            continue
        ts = r.target_system if r.target_code else (r.target_system or default_ts)
        g = groups.get((r.source_system, ts))
        if g is None:
            g = groups[(r.source_system, ts)] = {"group": {"source": r.source_system}, "elements": {}}
            if not m.get("source_case_sensitive", True):
                g["group"]["extension"] = [{"url": EXT_SOURCE_CASE_INSENSITIVE, "valueBoolean": True}]
            if ts:
                g["group"]["target"] = ts
            g["group"]["element"] = []
        e = g["elements"].get(r.source_code)
        if e is None or e.get("noMap") or (r.no_map and e.get("target")):
            # a no-map beside maps of the code (an error the check reports) keeps an element of its own
            e = g["elements"][r.source_code] = {"code": r.source_code}
            g["group"]["element"].append(e)
        if r.source_display and "display" not in e:
            e["display"] = r.source_display
        if r.no_map:
            e["noMap"] = True
            placed.append((r, e, None))
        else:
            tg = {"code": r.target_code}
            display = displays.get((r.target_system, r.target_code)) or r.target_display
            if display:
                tg["display"] = display
            tg["relationship"] = r.relationship
            if r.comment:
                tg["comment"] = r.comment
            if r.depends_on:
                tg["dependsOn"] = [{"attribute": a, "valueCoding": {"system": s, "code": c}} if s else
                                   {"attribute": a, "valueCode": c} for a, s, c in r.depends_on]
                for a, s, _ in r.depends_on:
                    attributes.setdefault(a, set()).add("Coding" if s else "code")
            e.setdefault("target", []).append(tg)
            placed.append((r, e, tg))
    for r, e, target in placed:
        holder = target if target is not None else e
        exts = holder.setdefault("extension", [])
        if target is None and r.comment:
            exts.append({"url": EXT_NOMAP_COMMENT, "valueString": r.comment})
        if target is not None and r.r4_word:
            exts.append({"url": EXT_R4_EQUIVALENCE, "valueCode": r.r4_word})
        exts.append({"url": EXT_ROW, "valueInteger": int(r.row)})
        if isinstance(r.row, SheetRow):
            exts.append({"url": EXT_SHEET, "valueString": r.row.sheet})
        exts.append({"url": EXT_STATUS, "valueCode": r.status})
        for url, val in ((EXT_AUTHOR, r.author), (EXT_REVIEWER, r.reviewer),
                         (EXT_STATUS_DATE, r.status_date)):
            if val:
                exts.append({"url": url, "valueString": val})
        regenerated = render_cells(row_meaning(r, e.get("display"), target))
        for h in t.columns:
            written = r.cells.get(h, "")
            c = known.get(h)
            if c:
                if regenerated[c] != written:
                    exts.append(_column_ext(h, written))
            elif written:
                exts.append(_column_ext(h, written))
        # keep extension lists ordered as built; element-level ones stay before targets
    if attributes:   # R5: a dependsOn names an additionalAttribute of the map by its code
        cm["additionalAttribute"] = [{"code": a, **({"uri": a} if re.match(r"[a-z][a-z0-9+.-]*:", a) else {}),
                                      "type": "Coding" if "Coding" in kinds else "code"}
                                     for a, kinds in attributes.items()]
    cm["group"] = [g["group"] for g in groups.values() if g["group"]["element"]]
    if not cm["group"]:
        del cm["group"]
    return cm


def row_meaning(r: Row, element_display, target) -> dict:
    """What the ConceptMap says about a row (the input to render_cells)."""
    return {"source_system": r.source_system, "source_code": r.source_code,
            "source_display": element_display or "",
            "target_system": r.target_system if target is not None else "",
            "target_code": r.target_code, "target_display": (target or {}).get("display") or "",
            "relationship": r.relationship, "r4_word": r.r4_word, "no_map": r.no_map,
            "status": r.status, "comment": r.comment, "author": r.author, "reviewer": r.reviewer,
            "status_date": r.status_date, "depends_on": r.depends_on if target is not None else ()}
