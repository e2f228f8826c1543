"""The binding validators as commands: `termsvc ig-report` (what the build can judge of each IG binding) and
`termsvc check-resource` (resources' coded elements against the IG's bindings)."""
import os

import click
import orjson

from termsvc.bindings import report as ig_report
from termsvc.bindings import resources
from termsvc.bindings.report_html import render
from termsvc.cli.common import Unanswerable, with_settings
from termsvc.store.reader import Store

def _store(settings) -> Store:
    if not os.path.isfile(settings.db):
        raise Unanswerable(f"{settings.db}: no database; run `termsvc build` first")
    return Store(settings.db)


@click.command("ig-report")
@click.option("--db", metavar="PATH", help="The build to report on [setting db].")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as a self-contained HTML page.")
@with_settings("db")
def ig_report_cmd(settings, db, as_json, html_file):
    """Every binding of the IG (both editions, and the FHIR core bindings of the resources it
    profiles): the value set, the code systems it needs, what the build holds of each, whether a
    code can be judged against it, and what to load where it cannot.

    Exit status: 0 when every required binding is fully checkable, 1 otherwise, 2 without a build."""
    rows = ig_report.report(_store(settings))
    if html_file:
        with open(html_file, "w", encoding="utf-8") as f:
            f.write(render(rows, settings.db))
    if as_json:
        click.echo(orjson.dumps(ig_report.summary(rows), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(ig_report.as_text(rows))
    raise SystemExit(ig_report.exit_code(rows))


@click.command("check-resource")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--db", metavar="PATH", help="The build to judge with [setting db].")
@click.option("--fhir-version", "edition", type=click.Choice(["R4", "R5"], case_sensitive=False), default=None,
              help="The FHIR version of the resources (default: from meta.profile, else from their elements).")
@click.option("--strict-displays", "strict_displays", flag_value="true", default=None,
              help="A display $validate-code only warns about is an error too [setting strict_displays].")
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON.")
@with_settings("db", "strict_displays")
def check_resource_cmd(settings, paths, db, edition, strict_displays, as_json):
    """Check the coded elements of FHIR resources (JSON files, folders of them, Bundles; R4 or R5)
    against the bindings of the IG profiles they claim (meta.profile, else their resource type):
    required -> error, extensible -> warning when the code is valid but outside the value set,
    preferred/example -> information; what the build cannot judge is said, never an error.

    Exit status: 0 no errors, 1 errors, 2 some input could not be read (one line each on stderr; what
    could be read is checked and reported all the same)."""
    store = _store(settings)
    checked, findings, unreadable = resources.check(store, paths, edition.upper() if edition else None,
                                                    settings.strict_displays)
    if as_json:
        click.echo(orjson.dumps(resources.as_json(checked, findings, unreadable), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(resources.as_text(checked, findings, unreadable))
    for u in unreadable:
        click.echo(f"termsvc: error: {resources.printable(str(u))}", err=True)
    raise SystemExit(resources.exit_code(findings, unreadable))


COMMANDS = [ig_report_cmd, check_resource_cmd]
