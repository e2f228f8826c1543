"""`termsvc mappings suggest` and `termsvc mappings eval`: ranked candidate codes for a table's
unmapped rows, and the measure of that ranking against gold files (termsvc.suggest)."""
import os
import sys

import click
import orjson

from termsvc.cli.common import with_settings
from termsvc.cli.mappings import find_table, folder_options, mappings, table_folders
from termsvc.mappings.lint import folder_resources
from termsvc.mappings.table import find_tables, read_table
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store
from termsvc.suggest.evaluate import GoldError, evaluate, format_report, read_gold
from termsvc.suggest.evidence import Evidence
from termsvc.suggest.lexicon import Lexicon, LexiconError
from termsvc.suggest.service import DEFAULT_TOP, Suggester, catalogue_not_listed, suggestions_json, to_suggest
from termsvc.suggest.write import OUTPUT_FORMATS, WriteError, write_suggestions


def open_store(db: str) -> Store:
    if not os.path.isfile(db):
        click.echo(f"error: no database at {db} (run `termsvc build` first, or give --db)", err=True)
        sys.exit(2)
    store = Store(db)
    try:
        store.check(store.path)
    except NotADatabase as e:
        click.echo(f"error: cannot use {e}", err=True)
        sys.exit(2)
    return store


def make_suggester(settings, folders, top: int, table=None) -> Suggester:
    """The suggester over the build the settings name, the lexicon of the folders' departments and
    the evidence of every table in the folders (and of `table`, the one asking, if it is elsewhere)."""
    store = open_store(settings.db)
    try:
        lexicon = Lexicon.load(folders)
    except LexiconError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    tables = [read_table(b) for b in find_tables(folders)]
    if table is not None and table.path not in {t.path for t in tables}:
        tables.append(table)
    return Suggester(store, lexicon, Evidence([t for t in tables if t.usable]), settings.max_expansion, top)


@mappings.command("suggest")
@click.argument("table")
@folder_options
@click.option("--db", "db", type=click.Path(dir_okay=False), default=None, help="The build [setting db].")
@click.option("--top", type=click.IntRange(1, 100), default=DEFAULT_TOP, show_default=True,
              help="Candidates per row.")
@click.option("--all", "all_rows", is_flag=True, help="Every row, not only those without a target.")
@click.option("--language", default=None, help="The language of the names (es, de, ...) when the table has no"
                                               " language column (default: the table's `language`, else"
                                               " detected per name).")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestions as JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the table back with the suggestions as draft rows (FILE.xlsx or FILE.csv).")
@with_settings("mappings", "default_mappings", "db")
def suggest_cmd(settings, table, mappings, default_mappings, db, top, all_rows, language, as_json, output):
    """Ranked candidate codes for the rows of TABLE without a target (its name in the folders, or a path),
    and for the codes of its source scope (its catalogue) that no row names yet ("row": null; -o adds
    them as rows).

    Candidates come from the table's target_scope as the build expands it (else its target_system),
    ranked by the multilingual lexicon (plus the folders' own `lexicon/`), the designations loaded and
    the accepted rows of every table in the folders. Exit status: 0 suggestions made, 2 unusable input."""
    if output and os.path.splitext(output)[1].lower().lstrip(".") not in OUTPUT_FORMATS:
        click.echo(f"error: -o {output}: the file must end in .xlsx or .csv", err=True)
        sys.exit(2)
    with table_folders(settings) as folders:
        t = find_table(table, folders)
        if t is None:
            click.echo(f"error: no mapping table '{table}' in {', '.join(folders) or 'no folder'}", err=True)
            sys.exit(2)
        if not t.usable:
            for p in t.errors:
                click.echo(p.line(), err=True)
            sys.exit(2)
        suggester = make_suggester(settings, folders, top, t)
    try:
        asked, why_not = to_suggest(t, suggester.store, folder_resources([t.path], []), all_rows)
        if why_not:
            click.echo(f"note: {catalogue_not_listed(t, why_not)}", err=True)
        result = suggester.table(t, asked, language=language)
    finally:
        suggester.close()
    if output:
        try:
            n = write_suggestions(t, result, output)
        except WriteError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        click.echo(f"wrote {output}: {n} suggested row(s) as draft", err=as_json)
    if as_json:
        click.echo(orjson.dumps(suggestions_json(result), option=orjson.OPT_INDENT_2).decode())
    elif not output:
        click.echo(format_text(result))


def format_text(result: dict) -> str:
    lines = [f"== {result['table']}: {len(result['rows'])} row(s)"]
    for r in result["rows"]:
        where = f"row {r['row']}" if r["row"] is not None else "no row yet"
        lines.append(f"{where}: {r['source_code']} {r['source_display']}".rstrip())
        if r.get("message"):
            lines.append(f"  note: {r['message']}")
        parts = {k: (v["code"] if isinstance(v, dict) else v) for k, v in r["parts"].items() if v}
        if parts:
            lines.append("  parts: " + ", ".join(f"{k} {v}" for k, v in parts.items()))
        for c in r["candidates"]:
            lines.append(f"  {c['score']:.2f}  {c['code']}  {c['display']}  - {c['why']}")
        if not r["candidates"]:
            lines.append("  no candidate")
    return "\n".join(lines)


@mappings.command("eval")
@click.argument("gold", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@folder_options
@click.option("--db", "db", type=click.Path(dir_okay=False), default=None, help="The build [setting db].")
@click.option("--scope", default=None, help="The value set to rank in for gold rows without a target_scope.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures (and every miss) as JSON.")
@click.option("--misses", is_flag=True, help="List the rows the ranking did not get right.")
@with_settings("mappings", "default_mappings", "db")
def eval_cmd(settings, gold, mappings, default_mappings, db, scope, as_json, misses):
    """Measure the suggestions against GOLD files (CSV: source_display, code, [system, language,
    target_scope, modality, region, laterality, contrast]): top-1, top-5 and MRR per language and
    overall, beside a character-trigram TF-IDF baseline, and the accuracy of the parsed parts.
    The tables of the folders are evidence, as for `suggest` (--no-default-mappings: none shipped)."""
    try:
        rows = [r for path in gold for r in read_gold(path)]
    except GoldError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    with table_folders(settings) as folders:
        suggester = make_suggester(settings, folders, DEFAULT_TOP)
    try:
        report = evaluate(suggester, rows, scope)
    finally:
        suggester.close()
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(format_report(report))
    if misses:
        for m in report["misses"]:
            click.echo(f"  miss {os.path.basename(m['file'])}:{m['line']} {m['source_display']!r}: expected"
                       f" {m.get('part', 'code')} {m['expected']}, got {m['got']}")


COMMANDS: list[click.Command] = []   # (its commands join the `mappings` group)
