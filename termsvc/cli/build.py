"""`termsvc build`."""
import click

from termsvc.build import BuildError, Progress, SourceSpec, build, default_sources, mapping_sources, release_sources
from termsvc.cli.common import CliError, with_settings
from termsvc.store.digest import build_sha256


@click.command("build")
@click.option("--db", metavar="PATH", help="Database file to (re)build [setting db].")
@click.option("--fhir", "fhir", multiple=True, metavar="PATH",
              help="FHIR JSON file, Bundle or folder (repeatable).")
@click.option("--package", "packages", multiple=True, metavar="NAME#VER|PATH",
              help="FHIR NPM package: NAME#VERSION (package cache, fetched if missing), .tgz or folder (repeatable).")
@click.option("--snomed", multiple=True, metavar="PATH",
              help="SNOMED CT RF2 release (folder or zip; repeatable: edition + extensions) [setting snomed].")
@click.option("--loinc", metavar="PATH", help="LOINC release (folder or zip) [setting loinc].")
@click.option("--loinc-version", metavar="2.NN",
              help="The LOINC release's version, when neither its loinc.xml nor its folder or zip name tells it.")
@click.option("--no-defaults", is_flag=True,
              help="Load only the sources given (no IG, FHIR packages, DICOM, mapping tables, configured releases).")
@click.option("--keep-going", is_flag=True, help="Skip a source that fails instead of abandoning the build (listed on stderr; exit status 3).")
@click.option("--mappings", multiple=True, metavar="DIR",
              help="A folder of mapping tables, loaded besides the shipped ones (repeatable) [setting mappings].")
@click.option("--no-default-mappings", "default_mappings", flag_value="false", default=None,
              help="Do not load the mapping tables shipped with termsvc [setting default_mappings].")
@click.option("--include-unaccepted-mappings", is_flag=True,
              help="Also load mapping-table rows not yet accepted by a reviewer.")
@click.option("--allow-mapping-errors", is_flag=True,
              help="Build even when mapping-table rows have errors (what `termsvc mappings check` calls errors:"
                   " they fail the build otherwise), leaving those rows out of $translate.")
@click.option("--strict-displays", "strict_displays", flag_value="true", default=None,
              help="A mapping-table display $validate-code only warns about is an error too [setting strict_displays].")
@click.option("--no-preexpand", is_flag=True, help="Do not pre-expand the value sets.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@with_settings("db", "snomed", "loinc", "mappings", "default_mappings", "strict_displays", listed=True)
def build_cmd(settings, db, fhir, packages, snomed, loinc, loinc_version, mappings, default_mappings, no_defaults, keep_going,
              include_unaccepted_mappings, allow_mapping_errors, strict_displays, no_preexpand, quiet):
    """Build the content database aside and swap it in (the served file changes only on success)."""
    sources: list[SourceSpec] = []
    if no_defaults:  # only what the command line names: no configured releases or table folders either
        sources += release_sources(snomed, loinc)
        sources += mapping_sources(mappings, False, include_unaccepted_mappings, allow_mapping_errors,
                                   settings.strict_displays)
    else:
        sources += default_sources(include_unaccepted_mappings=include_unaccepted_mappings,
                                   mapping_folders=settings.mappings, default_mappings=settings.default_mappings,
                                   allow_mapping_errors=allow_mapping_errors, strict_displays=settings.strict_displays)
    sources += [SourceSpec("package", p) for p in packages]
    sources += [SourceSpec("fhir", p) for p in fhir]
    if not no_defaults:
        sources += release_sources(settings.snomed, settings.loinc)
    if loinc_version:
        for spec in sources:
            if spec.kind == "loinc":
                spec.options["loinc_version"] = loinc_version
    if not sources:
        raise CliError("nothing to build: --no-defaults without --fhir/--package/--snomed/--loinc")
    summary = run_build(settings.db, sources, quiet=quiet, keep_going=keep_going, preexpand=not no_preexpand)
    if not quiet:
        click.echo(f"built {settings.db}: {summary['code_systems']} code systems, {summary['value_sets']} value sets,"
                   f" {summary['concept_maps']} concept maps, {summary['concepts']} concepts,"
                   f" {summary['size_bytes'] / 1e6:.1f} MB")
    click.echo(f"{build_sha256(settings.db)}  {settings.db}")  # sha256sum's format: what `termsvc pull --sha256` takes
    for failure in summary["failures"]:
        click.echo(f"termsvc: skipped: {failure}", err=True)
    for note in summary["notes"]:
        click.echo(f"termsvc: warning: {note}", err=True)
    if summary["failures"]:   # (--keep-going) built and swapped in, without the sources listed
        raise click.exceptions.Exit(KEPT_GOING)


KEPT_GOING = 3   # the exit status of a build swapped in without the sources --keep-going skipped


def run_build(db_path, sources, quiet=False, keep_going=False, preexpand=True) -> dict:
    try:
        return build(db_path, sources, Progress(quiet=quiet), keep_going=keep_going, preexpand=preexpand)
    except BuildError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"{e.filename or db_path}: {e.strerror or e}") from None


COMMANDS = [build_cmd]
