"""The local code systems and value sets of a folder of tables (`codesystems/*.json`), and writing them
from a catalogue export (`termsvc mappings init`).

    resources = local_resources(folder)            # CodeSystem / ValueSet resources of folder/codesystems
    made = from_catalogue("export.xlsx", "ris-procedures", base_url="http://hospital.example/fhir")
    made.problems                                  # row by row: what stops the catalogue being written
    write(made, folder)                            # NAME.toml, NAME.csv, codesystems/{CodeSystem,ValueSet}-NAME.json

A catalogue export is a CSV or XLSX with a header row: a code column, a display column, and optionally a
parent column (the code of the concept above: the hierarchy) and an active column. Header names are
recognised in the languages terminologists write (`code`, `código`, `Bezeichnung`, `libellé`, ...) or
named. Codes stay the strings they are (`0012`, `1.10`). The table written has a row per active code
(its code and display, the rest empty: a draft to map), so its coverage (`termsvc mappings check`) is
0 % and `termsvc mappings suggest` proposes a target for every row once the target scope is set.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson
import tomli_w

from termsvc.files import NotRegularFile, open_regular
from termsvc.fhir.bundle import iter_bundle
from termsvc.mappings.export import DEFAULT_ENCODING, DEFAULT_LINE_END, language_delimiter
from termsvc.mappings.from_fhir import rows_to_csv
from termsvc.mappings.cells import read_cells
from termsvc.mappings.reading import canonical_header
from termsvc.mappings.mangled import mangled_codes
from termsvc.mappings.problems import Problem, cell_problems, code_problem, sheet_problems, shown
from termsvc.mappings.to_fhir import fhir_id

CODESYSTEM_FOLDER = "codesystems"
LOCAL_TYPES = ("CodeSystem", "ValueSet")
# catalogue column -> header names it is recognised by (canonical: lower case, blanks as `_`)
CATALOGUE_COLUMNS = {
    "code": ["code", "codes", "source_code", "local_code", "codigo", "código", "codice", "kode", "kod", "cod", "kennung",
             "schlüssel", "schluessel", "nummer", "koodi", "kód", "κωδικός", "κωδικοσ", "κωδικος"],
    "display": ["display", "source_display", "description", "descripcion", "descripción", "name", "term", "text",
                "label", "designation", "bezeichnung", "beschreibung", "libelle", "libellé", "descrizione",
                "denominazione", "nazwa", "opis", "omschrijving", "naam", "nombre", "denominacion", "denominación",
                "designação", "designacao", "descrição", "descricao",
                "benämning", "benamning", "beskrivning", "namn",                      # sv
                "betegnelse", "beskrivelse", "navn", "tekst",                         # da
                "nimi", "nimike", "kuvaus", "selite", "teksti",                       # fi
                "název", "nazev", "označení", "oznaceni",                             # cs
                "megnevezés", "megnevezes", "leírás", "leiras", "név", "szöveg",      # hu
                "περιγραφή", "περιγραφη", "ονομασία", "ονομασια", "όνομα", "ονομα"],  # el
    "parent": ["parent", "parent_code", "parent_id", "hierarchy", "padre", "codigo_padre", "código_padre",
               "übergeordnet", "uebergeordnet", "oberbegriff", "parent_concept", "nadrzędny", "pai",
               "överordnad", "overordnet", "ylätaso", "nadřazený", "szülő"],
    "active": ["active", "activo", "activa", "aktiv", "attivo", "actif", "active_flag", "ativo", "aktywny", "actief",
               "status", "estado", "stato", "statut", "aktiivinen", "voimassa", "aktivní", "platný", "aktív",
               "érvényes", "ενεργό", "ενεργο", "ενεργος", "ενεργός"],
}
ACTIVE_WORDS = {"", "true", "yes", "y", "1", "x", "active", "sí", "si", "ja", "oui", "tak", "sim", "activo", "activa",
                "aktiv", "attivo", "actif", "ativo", "aktywny", "actief", "current", "vigente",
                "kyllä", "ano", "igen", "ναι", "aktiivinen", "aktivní", "aktív", "ενεργό"}
INACTIVE_WORDS = {"false", "no", "n", "0", "inactive", "retired", "deprecated", "nein", "non", "nie", "não", "nao",
                  "inactivo", "inactiva", "inaktiv", "inattivo", "inactif", "inativo", "nieaktywny", "inactief",
                  "obsolete", "obsoleto", "baja", "nej", "ei", "ne", "nem", "όχι", "οχι", "inaktiivinen",
                  "neaktivní", "inaktív", "ανενεργό"}
INACTIVE_PROPERTY = {"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive", "type": "boolean"}
DEFAULT_BASE_URL = "http://termsvc.local/fhir"
# what a table written from a catalogue leaves for the terminologist to set, and why
UNSET_META = {"target_scope": "the value set the targets come from (`mappings suggest` ranks in it)",
              "target_system": "the EU code system of the targets (without a scope, `mappings suggest` ranks in it)",
              "language": "the catalogue's language (de, es, ...): how its names are read, the CSV delimiter"}
TABLE_COLUMNS = ["source_code", "source_display", "target_system", "target_code", "target_display", "relationship",
                 "no_map", "status", "comment", "author", "reviewer", "status_date"]


def local_resources(folder: str) -> list[dict]:
    """The CodeSystem and ValueSet resources (or Bundles of them) in `folder/codesystems/*.json`, in file
    order. ValueError naming the file that is not JSON."""
    out = []
    for path in local_resource_files(folder):
        try:
            with open_regular(path) as f:
                data = f.read().removeprefix(b"\xef\xbb\xbf")
        except NotRegularFile as e:
            raise ValueError(f"{path}: {e.strerror}") from None
        try:
            out += [r for r in iter_bundle(orjson.loads(data)) if r.get("resourceType") in LOCAL_TYPES]
        except orjson.JSONDecodeError as e:
            raise ValueError(f"{path}: malformed JSON: {e}") from None
    return out


def local_resource_files(folder: str) -> list[str]:
    """The JSON files of `folder/codesystems`, sorted."""
    cs_dir = os.path.join(folder, CODESYSTEM_FOLDER)
    if not os.path.isdir(cs_dir):
        return []
    return sorted(os.path.join(cs_dir, f) for f in os.listdir(cs_dir) if f.lower().endswith(".json")
                  and not f.startswith("."))


# -- a catalogue export -> the table's TOML, CSV, CodeSystem and ValueSet ------------------
class Concept(NamedTuple):
    row: int          # the catalogue's row
    code: str
    display: str
    parent: str       # the code of the concept above ("" at the top)
    active: bool


@dataclass
class Catalogue:
    name: str
    file: str
    columns: dict = field(default_factory=dict)    # catalogue column -> header as written
    concepts: list = field(default_factory=list)   # [Concept]
    problems: list = field(default_factory=list)   # [Problem]: no error, or nothing is written
    code_system: dict | None = None
    value_set: dict | None = None
    toml: str = ""
    csv: bytes = b""
    unset: list = field(default_factory=list)      # what the TOML leaves to set (UNSET_META)

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.level == "error"]


def from_catalogue(path: str, name: str, base_url: str = DEFAULT_BASE_URL, title: str | None = None,
                   language: str | None = None, target_system: str | None = None, columns: dict | None = None,
                   target_scope: str | None = None) -> Catalogue:
    """What `termsvc mappings init` writes for this catalogue export (see the module's description).
    `columns`: catalogue column -> header, for headers not recognised."""
    cat = Catalogue(name=name, file=os.path.basename(path))
    columns = columns or {}
    # the header row: the first (below titles) naming the code column
    header = [canonical_header(columns["code"])] if columns.get("code") else CatalogueHeader()
    try:
        cells = read_cells(path, header)
    except (ValueError, OSError) as e:
        cat.problems.append(Problem("error", "unreadable", cat.file, None, str(e)))
        return cat
    _read_concepts(cat, cells, columns)
    if cat.errors:
        return cat
    base = base_url.rstrip("/")
    cs_url, vs_url = f"{base}/CodeSystem/{name}", f"{base}/ValueSet/{name}"
    title = title or name
    cat.code_system = code_system(cat.concepts, cs_url, vs_url, name, title, language)
    cat.value_set = {"resourceType": "ValueSet", "id": fhir_id(name), "url": vs_url, "name": _pascal(name),
                     "title": title, "status": "active",
                     "description": f"The active codes of {title} (the source scope of the mapping table {name}).",
                     "compose": {"inactive": False, "include": [{"system": cs_url}]}}
    meta = {"url": f"{base}/ConceptMap/{name}", "name": _pascal(name), "title": f"{title}: local codes to EU codes",
            "status": "draft", "language": language, "source_scope": vs_url, "source_system": cs_url,
            "target_scope": target_scope, "target_system": target_system}
    targets = any(meta.get(k) for k in ("target_scope", "target_system"))   # either is where candidates come from
    cat.unset = [key for key in UNSET_META if not meta.get(key) and (key == "language" or not targets)]
    cat.toml = (f"# written by `termsvc mappings init` from {cat.file}: {len(cat.concepts)} codes\n"
                + "".join(f"# set {key} = \"...\"  # {UNSET_META[key]}\n" for key in cat.unset)
                + tomli_w.dumps({k: v for k, v in meta.items() if v}))
    # one row per active code, to map (status empty: the table's default_status, draft)
    rows = [{"source_code": c.code, "source_display": c.display} for c in cat.concepts if c.active]
    cat.csv = rows_to_csv(TABLE_COLUMNS, rows, language_delimiter(language), DEFAULT_LINE_END).encode(DEFAULT_ENCODING)
    return cat


class CatalogueHeader:
    """Recognises the header row of a catalogue: a cell naming its code or its display column (`exact`: by one
    of their names, preferred to a row that has one as a word, such as a title `Code list` above the header)."""
    exact = frozenset(CATALOGUE_COLUMNS["code"] + CATALOGUE_COLUMNS["display"])

    def __contains__(self, canonical: object) -> bool:
        return isinstance(canonical, str) and any(
            canonical in CATALOGUE_COLUMNS[c] or _names_column(canonical, c) for c in ("code", "display"))


def _names_column(header: str, column: str) -> bool:
    """Whether canonical `header` has a name of catalogue `column` as a word (`procedure_code`, `code_acte`,
    `codice_prestazione`) or as the end of a compound (`Leistungscode`, `Leistungsbezeichnung`, `Kurztext`),
    and names no other column the same way (`parent_code` is the parent's)."""
    def names(col):
        aliases = CATALOGUE_COLUMNS[col]
        return any(w in aliases or any(len(a) >= 4 and w.endswith(a) for a in aliases)
                   for w in re.split(r"[\W_]+", header) if w)
    return names(column) and not any(names(other) for other in CATALOGUE_COLUMNS if other != column)


def _read_concepts(cat: Catalogue, cells, named: dict) -> None:
    by_canonical = {canonical_header(h): h for h in cells.headers if h}
    for column, aliases in CATALOGUE_COLUMNS.items():
        wanted = named.get(column)
        if wanted:
            header = by_canonical.get(canonical_header(wanted))
            if header is None:
                cat.problems.append(Problem("error", "missing-column", cat.file, cells.header_line,
                                            f"no column '{wanted}' (found: {shown(', '.join(cells.headers))})"))
        else:
            header = next((by_canonical[a] for a in aliases if a in by_canonical), None)
        if header is not None:
            cat.columns[column] = header
    for column in ("code", "display"):   # required: else a header that has one of their names as a word
        if column in cat.columns or named.get(column):
            continue
        taken = set(cat.columns.values())
        guesses = [h for c, h in by_canonical.items() if h not in taken and _names_column(c, column)]
        if len(guesses) == 1:
            cat.columns[column] = guesses[0]
        elif guesses:
            cat.problems.append(Problem("error", "missing-column", cat.file, cells.header_line,
                                        f"several columns could be the {column} column ({shown(', '.join(guesses))});"
                                        f" name it with --{column}-column"))
        else:
            cat.problems.append(Problem("error", "missing-column", cat.file, cells.header_line,
                                        f"no {column} column (found: {shown(', '.join(cells.headers))}; name it with"
                                        f" --{column}-column)"))
    for line, message, _ in cells.bad:
        cat.problems.append(Problem("error", "malformed-row", cat.file, line, message))
    if any(p.kind == "missing-column" for p in cat.problems):
        return
    index = {h: i for i, h in enumerate(cells.headers)}
    cols = [(index[h], h) for h in cat.columns.values()]
    cat.problems += sheet_problems(cat.file, cells, cols, "a code", "code")
    code_columns = {cat.columns[c]: False for c in ("code", "parent") if c in cat.columns}
    suspected = mangled_codes(cat.file, cells, [(index[h], h) for h in code_columns])
    raws, at = dict(cells.rows) if suspected else {}, index[cat.columns["code"]]
    for p in suspected:   # (named by the row's code)
        p.source_code = raws[p.row][at].strip() if at < len(raws[p.row]) else ""
    cat.problems += suspected
    seen: dict[str, int] = {}
    for line, raw in cells.rows:
        cell = {c: (raw[index[h]].strip() if index[h] < len(raw) else "") for c, h in cat.columns.items()}
        code, active = cell["code"], cell.get("active", "")
        found = cell_problems(cat.file, cells, line, raw, cols, code_columns, {cat.columns["display"]})
        problem = None if any(p.level == "error" for p in found) else _concept_problem(cat, cell, seen)
        if problem:
            found.append(Problem("error", "invalid-cell", cat.file, line, problem))
        for p in found:
            p.source_code, p.source_display = code, cell["display"]
        cat.problems += found
        if any(p.level == "error" for p in found):
            continue
        seen[code] = line
        cat.concepts.append(Concept(line, code, cell["display"], cell.get("parent", ""),
                                    active.lower() not in INACTIVE_WORDS))
    codes = {c.code for c in cat.concepts}
    parents = {c.code: c.parent for c in cat.concepts}
    for line, code, display, parent, _ in cat.concepts:
        if parent and parent not in codes:
            cat.problems.append(Problem("error", "unknown-parent", cat.file, line, f"parent {parent} is not a code"
                                        " of the catalogue", source_code=code, source_display=display))
        elif parent and _in_cycle(code, parents):
            cat.problems.append(Problem("error", "hierarchy-cycle", cat.file, line, f"{code} is its own ancestor"
                                        f" (through {parent})", source_code=code, source_display=display))


def _concept_problem(cat: Catalogue, cell: dict, seen: dict) -> str | None:
    """What keeps a catalogue row's cells (catalogue column -> text) from being a concept, or None."""
    code, active = cell["code"], cell.get("active", "")
    if not code:
        return "the code is empty"
    if code in seen:
        return f"code {code} is also on row {seen[code]}"
    if active.lower() not in ACTIVE_WORDS | INACTIVE_WORDS:
        return f"active '{active}' is neither yes nor no"
    return next((why for c in ("code", "parent") if cell.get(c) and (why := code_problem(cat.columns[c], cell[c]))),
                None)


def _in_cycle(code: str, parents: dict) -> bool:
    seen, at = set(), parents.get(code)
    while at:
        if at == code:
            return True
        if at in seen:
            return False
        seen.add(at)
        at = parents.get(at)
    return False


def code_system(concepts, url: str, vs_url: str, name: str, title: str, language: str | None) -> dict:
    """The complete CodeSystem of the catalogue's concepts, nested by parent, inactive ones marked."""
    nodes, roots = {}, []
    for _, code, display, parent, active in concepts:
        node = {"code": code}
        if display:
            node["display"] = display
        if not active:
            node["property"] = [{"code": "inactive", "valueBoolean": True}]
        nodes[code] = (node, parent)
    for node, parent in nodes.values():
        if parent:
            nodes[parent][0].setdefault("concept", []).append(node)
        else:
            roots.append(node)
    cs = {"resourceType": "CodeSystem", "id": fhir_id(name), "url": url, "name": _pascal(name), "title": title,
          "status": "active", "content": "complete", "caseSensitive": True, "valueSet": vs_url, "count": len(nodes)}
    if language:
        cs["language"] = language
    if any(parent for _, parent in nodes.values()):
        cs["hierarchyMeaning"] = "is-a"
    if any(not c.active for c in concepts):
        cs["property"] = [INACTIVE_PROPERTY]
    cs["concept"] = roots
    return cs


def _pascal(name: str) -> str:
    """A FHIR `name` (computer-friendly) of a table name: `ris-procedures` -> `RisProcedures`."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    out = "".join(w[:1].upper() + w[1:] for w in words)
    return out if out[:1].isalpha() else "T" + out


def planned_files(folder: str, name: str) -> list[str]:
    """The files `write` makes in `folder` for table `name`."""
    cs_dir = os.path.join(folder, CODESYSTEM_FOLDER)
    return [os.path.join(folder, f"{name}.toml"), os.path.join(folder, f"{name}.csv"),
            os.path.join(cs_dir, f"CodeSystem-{name}.json"), os.path.join(cs_dir, f"ValueSet-{name}.json")]


def write(cat: Catalogue, folder: str) -> list[str]:
    """Write the table and its code system and value set into `folder`: the paths written."""
    toml_path, csv_path, cs_path, vs_path = paths = planned_files(folder, cat.name)
    os.makedirs(os.path.dirname(cs_path), exist_ok=True)
    for path, data in ((cs_path, orjson.dumps(cat.code_system, option=orjson.OPT_INDENT_2) + b"\n"),
                       (vs_path, orjson.dumps(cat.value_set, option=orjson.OPT_INDENT_2) + b"\n"),
                       (csv_path, cat.csv), (toml_path, cat.toml.encode("utf-8"))):
        with open(path, "wb") as f:
            f.write(data)
    return paths
