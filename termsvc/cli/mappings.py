"""`termsvc mappings ...`: check, export and import mapping tables."""
import os
import sys

import click
import orjson

from termsvc import content
from termsvc.cli.common import with_settings
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.mappings.from_fhir import concept_map_to_table, extension_value, table_name_for, write_table
from termsvc.mappings.lint import check
from termsvc.mappings.report_html import render
from termsvc.mappings.table import find_tables, read_table
from termsvc.mappings.to_fhir import EXT_STATUS, concept_map_from_table
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store


@click.group("mappings")
def mappings():
    """Local-to-EU mapping tables (CSV/XLSX + TOML) and their ConceptMaps."""


@mappings.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--db", "db", type=click.Path(), default=None,
              help="Build to check codes, displays, scopes and coverage against (default: setting db, if present).")
@click.option("--no-db", is_flag=True, help="Structural checks only.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report to FILE.")
@with_settings()
def check_cmd(settings, paths, db, no_db, as_json, html_file):
    """Check mapping tables (files or folders; default: the tables shipped with termsvc).

    Exit status: 0 no errors (warnings allowed), 1 errors, 2 unusable input."""
    missing = [p for p in paths if not os.path.exists(p)]
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
    with content.folder(content.MAPPINGS) as shipped:
        report = check(list(paths) or [shipped], store)
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
            lines.append(f"  {p.where()}: {p.level}: {p.kind}{col}: {p.message}")
        cov = t.coverage
        if cov and cov.get("evaluable"):
            lines.append(f"  coverage of {cov['scope']}: {cov['total']} codes, {cov['mapped']} mapped,"
                         f" {cov['no_map']} no-map, {cov['unmapped']} nothing ({cov['percent_covered']}% covered)")
            if cov["unmapped_codes"]:
                lines.append("  unmapped: " + ", ".join(
                    u["code"] + (" (pending)" if u["pending"] else "") for u in cov["unmapped_codes"]))
    lines.append(f"{len(report.tables)} table(s): {report.errors} error(s), {report.warnings} warning(s)")
    return "\n".join(lines)


def _find_table(name: str, folder: str):
    if os.path.exists(name):
        return read_table(name)
    for base in find_tables([folder]):
        if os.path.basename(base) == name:
            return read_table(base)
    return None


@mappings.command("export")
@click.argument("name")
@click.option("--fhir", "fhir_version", type=click.Choice(["r5", "r4"], case_sensitive=False), default="r5",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File (default: stdout).")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Folder of the tables (default: the tables shipped with termsvc).")
@click.option("--db", "db", type=click.Path(dir_okay=False), default=None,
              help="Export the table as loaded in this build instead of reading the folder.")
@click.option("--accepted-only", is_flag=True, help="Only accepted rows (what $translate serves).")
def export_cmd(name, fhir_version, output, folder, db, accepted_only):
    """Write table NAME (name in the folder, or a path) as a ConceptMap JSON.

    Every row is exported with its status (extension) unless --accepted-only."""
    if db:
        cm = Store(db).mapping_table(name)
        if cm is None:
            click.echo(f"error: no mapping table '{name}' in {db}", err=True)
            sys.exit(2)
        if accepted_only:
            cm = _accepted_only(cm)
    else:
        with content.folder(content.MAPPINGS) as shipped:
            t = _find_table(name, folder or shipped)
        if t is None:
            click.echo(f"error: no mapping table '{name}' in {folder or 'the shipped tables'}", err=True)
            sys.exit(2)
        if t.errors:
            for p in t.errors:
                click.echo(f"{p.where()}: {p.message}", err=True)
            sys.exit(2 if not t.usable else 1)
        cm = concept_map_from_table(t, {"accepted"} if accepted_only else None)
    if fhir_version.lower() == "r4":
        cm = concept_map_r5_to_r4(cm)
    data = orjson.dumps(cm, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(data)
    else:
        click.echo(data, nl=False)


def _accepted_only(cm: dict) -> dict:
    def accepted(holder):
        return extension_value(holder, EXT_STATUS) in (None, "accepted")

    groups = []
    for g in cm.get("group", []) or []:
        elements = []
        for e in g.get("element", []) or []:
            if e.get("noMap"):
                if accepted(e):
                    elements.append(dict(e))
                continue
            targets = [t for t in e.get("target", []) or [] if accepted(t)]
            if targets:
                elements.append({**e, "target": targets})
        if elements:
            groups.append({**g, "element": elements})
    out = dict(cm)
    if groups:
        out["group"] = groups
    else:
        out.pop("group", None)
    return out


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
