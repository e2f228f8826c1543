"""`termsvc mappings ...`: check, export and import mapping tables."""
import os
import sys
from contextlib import contextmanager

import click
import orjson

from termsvc import content
from termsvc.cli.common import with_settings
from termsvc.mappings.export import DEFAULT_ENCODING, FORMATS, ExportError, export
from termsvc.mappings.from_fhir import concept_map_to_table, table_name_for, write_table
from termsvc.mappings.lint import SERVED, check
from termsvc.mappings.report_html import render
from termsvc.mappings.table import find_tables, read_table
from termsvc.mappings.to_fhir import concept_map_from_table
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store


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
    store = None
    if not no_db:
        if db is not None and not os.path.isfile(db):
            click.echo(f"error: no database at {db}", err=True)
            sys.exit(2)
        if db is not None or os.path.isfile(settings.db):
            store = Store(db or settings.db)
            try:
                store.check(store.path)
            except NotADatabase as e:
                click.echo(f"error: cannot check against {e}", err=True)
                sys.exit(2)
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
            lines.append(f"  coverage of {cov['scope']}: {cov['total']} codes, {cov['mapped']} mapped,"
                         f" {cov['no_map']} no-map, {cov['unmapped']} nothing ({cov['percent_covered']}% covered)")
            if cov["unmapped_codes"]:
                lines.append("  unmapped: " + ", ".join(
                    u["code"] + (" (pending)" if u["pending"] else "") for u in cov["unmapped_codes"]))
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
@click.option("--encoding", default=DEFAULT_ENCODING, show_default=True,
              help="Encoding of a CSV (utf-8-sig: UTF-8 with the BOM Excel needs; utf-8, cp1252, ...).")
@with_settings("mappings", "default_mappings")
def export_cmd(settings, name, fmt, output, mappings, default_mappings, db, accepted_only, encoding):
    """Write table NAME (its name in the folders, or a path) as XLSX, CSV or a ConceptMap.

    Every row is exported with its status unless --accepted-only; a spreadsheet keeps every cell
    and column as written."""
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
        for p in lost:
            click.echo(f"{p.line()}", err=True)
        if lost:
            sys.exit(2 if not t.usable else 1)
        cm = concept_map_from_table(t)
    try:
        data = export(cm, fmt, encoding, accepted_only)
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
    meta, columns, rows = concept_map_to_table(cm)
    if not meta.get("url"):
        click.echo("warning: the ConceptMap has no url; set one in the TOML", err=True)
    name = name or table_name_for(cm, os.path.splitext(os.path.basename(file))[0])
    csv_path, toml_path = write_table(output_dir, name, meta, columns, rows)
    click.echo(f"wrote {csv_path} ({len(rows)} rows) and {toml_path}")


COMMANDS = [mappings]
