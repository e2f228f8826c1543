"""`termsvc mappings ...`: check, compare, start, export and import mapping tables."""
import os
import sys
from contextlib import contextmanager

import click
import orjson

from termsvc import content
from termsvc.cli.common import with_settings
from termsvc.fhir.outcome import OpError
from termsvc.fhir.shape import check_resource
from termsvc.mappings import codesystems
from termsvc.mappings.diff import diff_reports
from termsvc.mappings.export import FORMATS, ExportError, export
from termsvc.mappings.from_fhir import concept_map_to_table, table_name_for, write_table
from termsvc.mappings.lint import NO_DATABASE, SERVED, Report, check
from termsvc.mappings.report_html import render
from termsvc.mappings.revisions import RevisionError, at_revision, parse_range
from termsvc.mappings.table import TABLE_NAME, find_tables, read_table
from termsvc.mappings.to_fhir import concept_map_from_table
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store
from termsvc.templates import render as render_template


@click.group("mappings")
def mappings():
    """Local-to-EU mapping tables (CSV/XLSX + TOML) and their ConceptMaps."""


def folder_options(fn):
    """--mappings DIR (repeatable) and --no-default-mappings: the folders of tables, as for `termsvc build`."""
    fn = click.option("--no-default-mappings", "default_mappings", flag_value="false", default=None,
                      help="Not the tables shipped with termsvc [setting default_mappings].")(fn)
    return click.option("--mappings", multiple=True, metavar="DIR", type=click.Path(),
                        help="A folder of tables, besides the shipped ones (repeatable) [setting mappings].")(fn)


@contextmanager
def table_folders(settings):
    """The folders of tables the settings name: the shipped ones (unless default_mappings is false),
    then the `mappings` folders - what `termsvc build` loads."""
    with content.folder(content.MAPPINGS) as shipped:
        yield ([shipped] if settings.default_mappings else []) + list(settings.mappings)


@mappings.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@folder_options
@click.option("--db", "db", type=click.Path(), default=None,
              help="Build to check codes, displays, scopes and coverage against (default: setting db, if present).")
@click.option("--no-db", is_flag=True, help="Structural checks only.")
@click.option("--include-unaccepted", is_flag=True,
              help="Judge every row as served (as `termsvc build --include-unaccepted-mappings` does).")
@click.option("--strict-displays", "strict_displays", flag_value="true", default=None,
              help="A display $validate-code only warns about is an error too [setting strict_displays].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report to FILE.")
@with_settings("mappings", "default_mappings", "strict_displays")
def check_cmd(settings, paths, mappings, default_mappings, db, no_db, include_unaccepted, strict_displays, as_json,
              html_file):
    """Check mapping tables: PATHS (files or folders), else the folders `termsvc build` loads.

    The checks of the build: an error here fails `termsvc build`.
    Exit status: 0 no errors (warnings allowed), 1 errors, 2 unusable input."""
    missing = [p for p in paths + tuple(settings.mappings) if not os.path.exists(p)]
    if missing:
        click.echo(f"error: no such file or folder: {', '.join(missing)}", err=True)
        sys.exit(2)
    store = open_store(settings, db, no_db)
    with table_folders(settings) as folders:
        report = check(list(paths) or folders, store, None if include_unaccepted else SERVED, settings.strict_displays)
    if html_file:
        with open(html_file, "w", encoding="utf-8") as f:
            f.write(render(report))
    if as_json:
        click.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_text(report))
    sys.exit(report.exit_code)


def open_store(settings, db: str | None, no_db: bool) -> Store | None:
    """The build to judge against: --db, else the setting db when it exists; None with --no-db. Exits 2
    when --db is not there or not a build."""
    if no_db:
        return None
    if db is not None and not os.path.isfile(db):
        click.echo(f"error: no database at {db}", err=True)
        sys.exit(2)
    if db is None and not os.path.isfile(settings.db):
        return None
    store = Store(db or settings.db)
    try:
        store.check(store.path)
    except NotADatabase as e:
        click.echo(f"error: cannot check against {e}", err=True)
        sys.exit(2)
    return store


UNMAPPED_SHOWN = 50


def format_text(report) -> str:
    lines = []
    for n in report.notes:
        lines.append(f"note: {n}")
    for t in report.tables:
        sc = ", ".join(f"{k} {v}" for k, v in t.status_counts.items())
        lines.append(f"== {t.file} ({t.rows} rows{': ' + sc if sc else ''})"
                     f" - {len(t.errors)} error(s), {len(t.warnings)} warning(s)")
        for p in t.problems:
            col = f" [{p.column}]" if p.column else ""
            lines.append(f"  {p.where()}: {p.level}: {p.kind}{col}: {p.message}{p.source_text()}")
        cov = t.coverage
        if cov and cov.get("evaluable"):
            lines.append(f"  coverage of {cov['scope'] or 'the source codes of the table'}: {cov['total']} codes,"
                         f" {cov['mapped']} mapped, {cov['no_map']} no-map, {cov['unmapped']} nothing"
                         f" ({cov['percent_covered']}% covered)")
            unmapped = cov["unmapped_codes"]
            if unmapped:   # (one line: the first UNMAPPED_SHOWN; --json lists every one)
                more = len(unmapped) - UNMAPPED_SHOWN
                lines.append("  unmapped: " + ", ".join(u["code"] + (" (pending)" if u["pending"] else "")
                                                        for u in unmapped[:UNMAPPED_SHOWN])
                             + (f" and {more} more (--json lists them all)" if more > 0 else ""))
    lines.append(f"{len(report.tables)} table(s): {report.errors} error(s), {report.warnings} warning(s)")
    return "\n".join(lines)


def find_table(name: str, folders):
    """The table NAME (a file or base path, or a table name in one of the folders), or None."""
    if os.path.exists(name):
        return read_table(name)
    for base in find_tables(folders):
        if os.path.basename(base) == name:
            return read_table(base)
    return None


@mappings.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False), default=None,
              help="xlsx, csv, or the ConceptMap as r5 or r4 JSON (default: from the -o suffix, else r5).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File (default: stdout).")
@folder_options
@click.option("--db", "db", type=click.Path(dir_okay=False), default=None,
              help="Export the table as loaded in this build instead of reading the folders.")
@click.option("--accepted-only", is_flag=True, help="Only accepted rows (what $translate serves).")
@click.option("--encoding", default=None,
              help="Encoding of a CSV (default: the table's CSV's, else utf-8-sig: UTF-8 with the BOM Excel needs;"
                   " utf-8, cp1252, ...).")
@click.option("--delimiter", default=None, metavar="[,|;|tab]",
              help="Delimiter of a CSV (default: the table's CSV's, else that of Excel in the table's language:"
                   " ';' for de, es, fr, it, nl, pl, pt, ...; ',' for en).")
@with_settings("mappings", "default_mappings")
def export_cmd(settings, name, fmt, output, mappings, default_mappings, db, accepted_only, encoding, delimiter):
    """Write table NAME (its name in the folders, or a path) as XLSX, CSV or a ConceptMap.

    Every row is exported with its status unless --accepted-only; a spreadsheet keeps every cell
    and column as written, a CSV is written as it was read (delimiter, encoding, line breaks)."""
    fmt = (fmt or {".xlsx": "xlsx", ".csv": "csv"}.get(os.path.splitext(output or "")[1].lower(), "r5")).lower()
    if db:
        cm = Store(db).mapping_table(name)
        if cm is None:
            click.echo(f"error: no mapping table '{name}' in {db}", err=True)
            sys.exit(2)
    else:
        with table_folders(settings) as folders:
            t = find_table(name, folders)
        if t is None:
            click.echo(f"error: no mapping table '{name}' in {', '.join(folders) or 'no folder'}", err=True)
            sys.exit(2)
        # a spreadsheet keeps rows in error (to be fixed in it); a ConceptMap, and a row left out, cannot
        lost = [p for p in t.errors if fmt in ("r5", "r4") or p.kind == "malformed-row" or not t.usable]
        if lost:
            click.echo(f"error: {name}: export refused: " + (
                "the table cannot be read" if not t.usable else
                f"{len({p.row for p in lost})} row(s) in error would be lost"
                + (" in a ConceptMap (export the spreadsheet, or fix them)" if fmt in ("r5", "r4")
                   else " (lines that cannot be read: fix them in the spreadsheet)")) + ":", err=True)
            for p in lost:
                click.echo(f"  {p.line()}", err=True)
            sys.exit(2 if not t.usable else 1)
        cm = concept_map_from_table(t)
    try:
        data = export(cm, fmt, encoding, accepted_only, delimiter)
    except ExportError as e:
        click.echo(f"error: {name}: {e}", err=True)
        sys.exit(2)
    if output:
        with open(output, "wb") as f:
            f.write(data)
    elif fmt == "xlsx" and sys.stdout.isatty():
        click.echo("error: an XLSX is not for a terminal: give -o FILE (or redirect the output)", err=True)
        sys.exit(2)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@mappings.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default=".", show_default=True)
@click.option("--name", default=None, help="Table name (default: from the ConceptMap).")
def import_cmd(file, output_dir, name):
    """Write a ConceptMap JSON (R4 or R5) as a table: NAME.csv + NAME.toml."""
    try:
        with open(file, "rb") as f:
            cm = orjson.loads(f.read().removeprefix(b"\xef\xbb\xbf"))
    except (OSError, orjson.JSONDecodeError) as e:
        click.echo(f"error: {file}: {e}", err=True)
        sys.exit(2)
    if not isinstance(cm, dict) or cm.get("resourceType") != "ConceptMap":
        click.echo(f"error: {file} is not a ConceptMap", err=True)
        sys.exit(2)
    try:
        check_resource(cm)   # (a group that is no object, a code that is no string: named, before a row is written)
    except OpError as e:
        click.echo(f"error: {file}: {e.text}", err=True)
        sys.exit(2)
    meta, columns, rows = concept_map_to_table(cm)
    if not meta.get("url"):
        click.echo("warning: the ConceptMap has no url; set one in the TOML", err=True)
    name = name or table_name_for(cm, os.path.splitext(os.path.basename(file))[0])
    csv_path, toml_path = write_table(output_dir, name, meta, columns, rows)
    click.echo(f"wrote {csv_path} ({len(rows)} rows) and {toml_path}")


@mappings.command("diff")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--git", "git_range", metavar="REV1..REV2", default=None,
              help="Compare PATH (a folder or table, default .) at two revisions of the git repository it is in;"
                   " REV1.. or REV1: with the working tree.")
@click.option("--db", "db", type=click.Path(), default=None,
              help="Build to compute the coverage of a source scope against (default: setting db, if present).")
@click.option("--no-db", is_flag=True, help="Coverage only from the folders' code systems (and own source codes).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Also write a self-contained HTML page to FILE (- for standard output).")
@with_settings()
def diff_cmd(settings, paths, git_range, db, no_db, as_json, html_file):
    """What changed between two versions of mapping tables: OLD NEW (table files or folders), or
    --git REV1..REV2 [PATH].

    Rows are matched by source code and target: rows added, removed and changed (the cells, old -> new),
    status changes (who and when), and the coverage before and after.
    Exit status: 0 nothing changed, 1 something did, 2 unusable input."""
    if git_range is None and len(paths) != 2:
        raise click.UsageError("give OLD and NEW (files or folders), or --git REV1..REV2 [PATH]")
    if git_range is not None and len(paths) > 1:
        raise click.UsageError("--git compares one PATH at two revisions")
    store = open_store(settings, db, no_db)
    try:
        if git_range is None:
            missing = [p for p in paths if not os.path.exists(p)]
            if missing:
                click.echo(f"error: no such file or folder: {', '.join(missing)}", err=True)
                sys.exit(2)
            revisions, labels, where = (None, None), paths, paths
        else:
            path = paths[0] if paths else "."
            revisions = parse_range(git_range)
            labels = [f"{rev or 'working tree'}:{path}" for rev in revisions]
            where = (path, path)
        with at_revision(where[0], revisions[0]) as old, at_revision(where[1], revisions[1]) as new:
            # a path missing at a revision (or from the working tree) has no tables: each of the other is new
            reports = [check([p], store) if p is not None and os.path.exists(p) else Report() for p in (old, new)]
    except RevisionError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    for rep in reports:   # the coverage is all a diff asks of the build
        rep.notes = [n for n in rep.notes if n != NO_DATABASE]
    d = diff_reports(*reports, *labels)
    if html_file:
        page = render_template("mappings_diff.html", diff=d.as_dict())
        if html_file == "-":
            click.echo(page)
        else:
            with open(html_file, "w", encoding="utf-8") as f:
                f.write(page)
    if as_json:
        click.echo(orjson.dumps(d.as_dict(), option=orjson.OPT_INDENT_2).decode())
    elif html_file != "-":
        click.echo(format_diff(d))
    sys.exit(d.exit_code)


def _describe(r: dict) -> str:
    """`CODE 'display' -> TARGET 'display' relationship [status]` of a diff's row."""
    def named(code, display):
        return code + (f" '{display}'" if display else "")
    target = "no map" if r["no_map"] else named(r["target_code"], r["target_display"])
    relationship = f" {r['relationship']}" if r["relationship"] else ""
    return f"{named(r['source_code'], r['source_display'])} -> {target}{relationship} [{r['status'] or 'invalid'}]"


def _coverage_text(cov: dict | None) -> str:
    if not cov:
        return "-"
    return f"{cov['percent_covered']}% of {cov['total']}" if cov.get("evaluable") else "not computed"


def format_diff(d) -> str:
    lines = [f"{d.old} -> {d.new}", *(f"note: {n}" for n in d.notes)]
    for t in d.tables:
        file = t.new_file or t.old_file
        if t.old_file is None:
            head = f"new table ({len(t.added)} rows)"
        elif t.new_file is None:
            head = f"table removed ({len(t.removed)} rows)"
        elif not t.has_changes:
            head = "unchanged"
        else:
            c = t.counts()
            head = f"{c['added']} added, {c['removed']} removed, {c['changed']} changed" + (
                f" ({c['status_changes']} status change(s))" if c["status_changes"] else "")
        cov = f"; coverage {_coverage_text(t.coverage_before)} -> {_coverage_text(t.coverage_after)}"
        lines.append(f"== {file}: {head}{cov if t.has_changes else ''}")
        if t.columns_added or t.columns_removed:
            lines.append(f"  columns added: {', '.join(t.columns_added) or '-'};"
                         f" removed: {', '.join(t.columns_removed) or '-'}")
        lines += [f"  metadata {m['key']}: {m['old']!r} -> {m['new']!r}" for m in t.metadata]
        if t.old_file is not None and t.new_file is not None:
            lines += [f"  + row {r['row']}: {_describe(r)}" for r in t.added]
            lines += [f"  - row {r['row']} (before): {_describe(r)}" for r in t.removed]
        for c in t.changed:
            what = []
            if c.status:
                who = c.status["reviewer"] or c.status["author"]
                what.append(f"status {c.status['old'] or 'invalid'} -> {c.status['new'] or 'invalid'}"
                            + (f" by {who}" if who else "") + (f" on {c.status['date']}" if c.status["date"] else ""))
            what += [f"{cell['column']} {cell['old']!r} -> {cell['new']!r}" for cell in c.cells]
            moved = f" (was {c.old['row']})" if c.old["row"] != c.new["row"] else ""
            lines.append(f"  ~ row {c.new['row']}{moved}: {_describe(c.new)}: {'; '.join(what)}")
    changed = sum(1 for t in d.tables if t.has_changes)
    lines.append(f"{len(d.tables)} table(s): {changed} changed")
    return "\n".join(lines)


@mappings.command("init")
@click.argument("catalogue", type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="The table's name (NAME.csv, NAME.toml; letters, digits, '.', '_', '-').")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="The folder of tables to write into (its codesystems/ gets the CodeSystem and ValueSet).")
@click.option("--base-url", default=codesystems.DEFAULT_BASE_URL, show_default=True,
              help="Canonical base of the CodeSystem, ValueSet and ConceptMap urls.")
@click.option("--title", default=None, help="Title of the catalogue (default: NAME).")
@click.option("--language", default=None, help="Language of the catalogue (de, es-ES, ...): the CSV delimiter Excel uses.")
@click.option("--target-system", default=None, help="The EU code system the table maps to (else set it in the TOML).")
@click.option("--target-scope", default=None, help="The value set the targets come from (else set it in the TOML).")
@click.option("--code-column", default=None, help="Header of the code column (default: recognised, e.g. code, código).")
@click.option("--display-column", default=None, help="Header of the display column (e.g. display, Bezeichnung).")
@click.option("--parent-column", default=None, help="Header of the parent code column (the hierarchy), if any.")
@click.option("--active-column", default=None, help="Header of the active column (yes/no), if any.")
@click.option("--force", is_flag=True, help="Replace the files of a table of that name.")
def init_cmd(catalogue, name, output_dir, base_url, title, language, target_system, target_scope, code_column,
             display_column, parent_column, active_column, force):
    """Start a mapping table from a catalogue export (CSV or XLSX: code, display, optional parent and active
    columns): NAME.toml, NAME.csv with a row per active code to map, and the catalogue as a CodeSystem and a
    ValueSet (the table's source scope) in codesystems/. Codes stay the strings they are (0012, 1.10).

    Exit status: 0 written, 1 rows in error (nothing written), 2 unusable input."""
    if not TABLE_NAME.fullmatch(name):
        raise click.BadParameter("letters, digits, '.', '_', '-' (starting with a letter or digit)", param_hint="--name")
    if not os.path.isfile(catalogue):
        click.echo(f"error: no such file: {catalogue}", err=True)
        sys.exit(2)
    existing = [p for p in codesystems.planned_files(output_dir, name) if os.path.exists(p)]
    if existing and not force:
        click.echo(f"error: {', '.join(existing)} exist: give another --name, or --force", err=True)
        sys.exit(2)
    named = {"code": code_column, "display": display_column, "parent": parent_column, "active": active_column}
    made = codesystems.from_catalogue(catalogue, name, base_url, title, language, target_system,
                                      {k: v for k, v in named.items() if v}, target_scope)
    errors = made.errors
    if errors:
        unusable = any(p.row is None or p.kind == "missing-column" for p in errors)
        click.echo(f"error: {made.file}: nothing written: " + (
            "the catalogue cannot be read" if unusable else f"{len({p.row for p in errors})} row(s) in error") + ":", err=True)
        for p in errors:
            click.echo(f"  {p.line()}", err=True)
    for p in made.problems:   # (a code read from a number cell, a title row above the header...)
        if p.level == "warning":
            click.echo(f"warning: {p.line()}", err=True)
    if errors:
        sys.exit(2 if unusable else 1)
    for path in codesystems.write(made, output_dir):
        click.echo(f"wrote {path}")
    inactive = sum(1 for c in made.concepts if not c.active)
    click.echo(f"{len(made.concepts)} codes ({inactive} inactive); {len(made.concepts) - inactive} row(s) to map;"
               f" `termsvc mappings check {output_dir}` shows the coverage")
    if made.unset:
        options = ", ".join("--" + key.replace("_", "-") for key in made.unset)
        click.echo(f"set {', '.join(made.unset)} in {name}.toml (or give {options}) before `termsvc mappings suggest"
                   f" {name}`")


COMMANDS = [mappings]
