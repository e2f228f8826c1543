"""Load the local-to-EU mapping tables (mappings_csv/ and the folders given) as ConceptMaps.

    termsvc build --mappings DIR ...                                   # shipped tables + DIR
    SourceSpec("mappings", "path/to/dir", {"include_unaccepted": True, "allow_errors": False})

- `load` (one call per folder, with the other sources): the local code systems and value sets
  next to the tables (`<dir>/codesystems/*.json`: CodeSystem / ValueSet resources or Bundles of
  them), as one source `mappings:codesystems`; the folder is noted for `finish`.
- `finish` (once every source is loaded and pre-expanded): every table of every folder is judged
  by termsvc.mappings.lint.check against the build - the same checks, through the same engine, as
  `termsvc mappings check` against the built database. Any error (structural, or a served row
  whose code, display or scope the engine rejects) fails the build: a BuildError lists every one as
  `file:row: message`. With `allow_errors` the build goes on without the rows in error (and without
  a table that cannot be read), and says how many were left out.
- Each table is its own source (`mappings:<name>`, sha256 of its files) and adds:
  * the served ConceptMap (indexed for $translate): the `accepted` rows without errors (every
    status with `include_unaccepted`; each target/element keeps its row status in the
    `mapping-status` extension); a target's display is its code system's where the engine knows
    the code, the spreadsheet's otherwise;
  * the complete table, every row with its status and cells as written (`add_mapping_table`):
    not served, what `termsvc mappings export --db` and the review page read;
  * the table's report (problems, coverage, rows served and left out): the review page's, with what
    changed since the build served before (termsvc.mappings.diff against the complete table that build
    stored: the database this build replaces), or that no build was served before.
"""
import hashlib
import os
import sqlite3

import orjson

from termsvc import content
from termsvc.files import open_regular
from termsvc.loaders.protocol import BuildError, BuildState, MappingTablesToJudge
from termsvc.mappings.codesystems import CODESYSTEM_FOLDER, local_resource_files, local_resources
from termsvc.mappings.diff import REMOVED_TABLES_META, diff_tables
from termsvc.mappings.from_fhir import table_from_concept_map
from termsvc.mappings.lint import SERVED, check, row_served
from termsvc.mappings.table import Table
from termsvc.mappings.to_fhir import concept_map_from_table, fhir_id
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store

SHOWN_ERRORS = 200


def _sha256(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(p for p in paths if p):
        if os.path.exists(p):
            h.update(os.path.basename(p).encode())
            try:
                with open_regular(p) as f:
                    h.update(f.read())
            except OSError as e:   # (a fifo: the table's own report says so)
                h.update(str(e).encode())
    return h.hexdigest()


def load_codesystems(writer, folder: str, progress) -> int:
    try:
        resources = local_resources(folder)
    except (ValueError, OSError) as e:
        raise BuildError(f"mappings: {e}") from None
    if not resources:
        return 0
    cs_dir = os.path.join(folder, CODESYSTEM_FOLDER)
    sid = writer.add_source("mappings:codesystems", "mappings", None, cs_dir, _sha256(local_resource_files(folder)))
    for r in resources:
        writer.add_resource(r, sid, "R5")
    writer.finish_source(sid)
    progress(f"  {len(resources)} local code system / value set resources from {cs_dir}")
    return len(resources)


def load(writer, location, progress, include_unaccepted: bool = False, allow_errors: bool = False,
         strict_displays: bool = False, *, state: BuildState, **_opts):
    if location is None:
        with content.folder(content.MAPPINGS) as folder:
            return load(writer, folder, progress, include_unaccepted, allow_errors, strict_displays, state=state)
    folder = os.path.abspath(location)
    if not os.path.isdir(folder):
        raise BuildError(f"mappings: {folder}: no such folder")
    load_codesystems(writer, folder, progress)
    pending = state.mapping_tables = state.mapping_tables or MappingTablesToJudge()
    pending.folders.append(folder)
    pending.include_unaccepted |= include_unaccepted
    pending.allow_errors |= allow_errors
    pending.strict_displays |= strict_displays
    progress(f"  tables of {folder}: judged once every source is loaded")


def finish(writer, progress, state: BuildState):
    """Judge every table against the build and write what it serves (see the module's description)."""
    pending, state.mapping_tables = state.mapping_tables, None
    if pending is None:
        return
    progress("judging the mapping tables")
    served = None if pending.include_unaccepted else SERVED
    report = check(pending.folders, writer.reader(), served, pending.strict_displays,
                   local=False)   # the build holds them
    errors = report.error_lines()
    if errors and not pending.allow_errors:
        more = f"\n  ... and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
        raise BuildError(f"{len(errors)} error(s) in the mapping tables of {', '.join(pending.folders)}"
                         " (run `termsvc mappings check` for the full report; `--allow-mapping-errors` builds"
                         " without the rows in error):\n  " + "\n  ".join(errors[:SHOWN_ERRORS]) + more)
    previous = previous_build(writer.final_path)
    dropped_rows, dropped_tables = [], []
    for rep in report.tables:
        t = rep.table
        sid = writer.add_source(f"mappings:{t.name}", "mappings", t.meta.get("version"), t.path,
                                _sha256([t.path, t.toml_path]))
        loaded = t.usable and not any(p.row is None for p in rep.errors)
        if not loaded:
            dropped_tables.append(t.file)
            rep.served, rep.dropped = 0, len(t.rows)
        else:
            rows = rep.served_rows(served)
            wanted = [r for r in t.rows if row_served(r, served)]
            rep.served, rep.dropped = len(rows), len(wanted) - len(rows)
            kept = {id(r) for r in rows}
            dropped_rows += [f"{t.file}:{r.row}" for r in wanted if id(r) not in kept]
            writer.add_resource(concept_map_from_table(t, rows=rows, displays=rep.displays), sid, "R5")
            writer.add_mapping_table(concept_map_from_table(t), sid)
        writer.add_mapping_report({**rep.as_dict(), "id": fhir_id(t.name), "loaded": loaded,
                                   "served_statuses": sorted(served) if served is not None else None,
                                   **changes_since(previous, rep)}, sid)
        writer.finish_source(sid, {"rows": len(t.rows), "rows_served": rep.served, "rows_left_out": rep.dropped,
                                   "errors": len(rep.errors), "warnings": len(rep.warnings)})
        coverage = rep.coverage or {}
        progress(f"  {t.file}: {len(t.rows)} rows, {rep.served} served"
                 + (f", {rep.dropped} left out for their errors" if rep.dropped else "")
                 + (f", {coverage['percent_covered']}% of the source scope covered" if coverage.get("evaluable") else ""))
    if previous is not None:
        gone = sorted(set(previous[1]) - {rep.name for rep in report.tables})
        writer.set_meta(REMOVED_TABLES_META, orjson.dumps(gone).decode())
    notes = state.notes
    if dropped_rows:
        notes.append(f"mapping tables: {len(dropped_rows)} row(s) with errors left out of what $translate serves"
                     f" (--allow-mapping-errors): {', '.join(dropped_rows[:20])}"
                     + (", ..." if len(dropped_rows) > 20 else ""))
    if dropped_tables:
        notes.append(f"mapping tables: {len(dropped_tables)} table(s) with errors of the whole table not loaded"
                     f" (--allow-mapping-errors): {', '.join(dropped_tables)}")


def previous_build(path: str) -> tuple[str, dict] | None:
    """(when it was built, {table name: (its complete Table or None, its report)}) of the build at `path`,
    the one this build replaces; None when there is none (or it is not a build this one can read)."""
    if not os.path.isfile(path):
        return None
    store = Store(path)
    try:
        store.check(path)
        tables = {}
        for rep in store.mapping_reports():
            cm = store.mapping_table(rep["id"])
            tables[rep["name"]] = (table_from_concept_map(cm, rep["name"]) if cm else None, rep)
        return store.meta("built_at") or "", tables
    except (NotADatabase, sqlite3.Error, KeyError):
        return None
    finally:
        store.close()


def changes_since(previous: tuple | None, rep) -> dict:
    """The report's `previous_build` (when the build served before was made; None: there was none) and
    `changes` (the table's changes since that build: termsvc.mappings.diff)."""
    if previous is None:
        return {"previous_build": None, "changes": None}
    built, tables = previous
    if rep.name not in tables:   # a new table: every row is new, none is listed
        changes = diff_tables(None, rep.table, None, rep.coverage).as_dict()
        changes["added"] = []
    else:                        # (a table that build could not read had no rows)
        old, old_report = tables[rep.name]
        changes = diff_tables(old or Table(rep.name, rep.path), rep.table, old_report.get("coverage"),
                              rep.coverage).as_dict()
    return {"previous_build": f"built {built}" if built else "", "changes": changes}
