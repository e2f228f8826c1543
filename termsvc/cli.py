"""The `termsvc` command: build the content database, serve it, fetch packages, inspect a build.

    termsvc build                      # the default content (IG, FHIR core, THO, IPS, DICOM, mappings)
    termsvc build --snomed ~/SnomedCT_InternationalRF2_PRODUCTION_20250201T120000Z --loinc ~/Loinc_2.80
    termsvc serve --build-if-missing
    termsvc packages fetch hl7.fhir.r5.core#5.0.0
    termsvc info --json

The database: --db, else $TERMSVC_DB, else data/termsvc.db in the project.
SNOMED CT / LOINC releases: --snomed/--loinc, else $TERMSVC_SNOMED (os.pathsep-
separated) / $TERMSVC_LOINC, else `snomed = [...]` / `loinc = "..."` in
termsvc.toml (project folder, or the file named by $TERMSVC_CONFIG).
"""
import json
import os
import sqlite3
import sys
import tomllib

import click

from termsvc.build import (DEFAULT_PACKAGES, PROJECT_DIR, Progress, SourceSpec, build,
                           default_db_path, default_sources)
from termsvc.store.writer import BuildError


class CliError(click.ClickException):
    """A one-line error message and exit status 1."""

    def show(self, file=None):
        click.echo(f"termsvc: error: {self.format_message()}", err=True)


# -- configuration -------------------------------------------------------------

def config_path() -> str | None:
    env = os.environ.get("TERMSVC_CONFIG")
    if env:
        return env
    p = os.path.join(PROJECT_DIR, "termsvc.toml")
    return p if os.path.isfile(p) else None


def read_config() -> dict:
    path = config_path()
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise CliError(f"{path}: configuration file not found ($TERMSVC_CONFIG)")
    except tomllib.TOMLDecodeError as e:
        raise CliError(f"{path}: invalid TOML: {e}")


def release_locations(snomed: tuple, loinc: str | None) -> tuple[list[str], str | None]:
    """SNOMED CT and LOINC release paths: options, else environment, else termsvc.toml."""
    snomed_list = list(snomed)
    if not snomed_list:
        env = os.environ.get("TERMSVC_SNOMED")
        if env:
            snomed_list = [p for p in env.split(os.pathsep) if p]
    if not loinc:
        loinc = os.environ.get("TERMSVC_LOINC") or None
    if not snomed_list or not loinc:
        cfg = read_config()
        if not snomed_list and cfg.get("snomed"):
            v = cfg["snomed"]
            snomed_list = [v] if isinstance(v, str) else [str(x) for x in v]
        if not loinc and cfg.get("loinc"):
            loinc = str(cfg["loinc"])
    return snomed_list, loinc


def resolve_db(db: str | None) -> str:
    return os.path.abspath(db or default_db_path())


# -- the command group -----------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """termsvc: FHIR terminology server for the HL7 Europe Imaging Report IG."""


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="termsvc", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("termsvc: interrupted", err=True)
        sys.exit(130)


@cli.command("build")
@click.option("--db", "db", metavar="PATH", help="Database file to (re)build [$TERMSVC_DB, data/termsvc.db].")
@click.option("--fhir", "fhir", multiple=True, metavar="PATH",
              help="FHIR JSON file, Bundle or folder (repeatable).")
@click.option("--package", "packages", multiple=True, metavar="NAME#VER|PATH",
              help="FHIR NPM package: NAME#VERSION (package cache, fetched if missing), .tgz or folder (repeatable).")
@click.option("--snomed", multiple=True, metavar="PATH",
              help="SNOMED CT RF2 release (folder or zip; repeatable: edition + extensions) [$TERMSVC_SNOMED].")
@click.option("--loinc", metavar="PATH", help="LOINC release (folder or zip) [$TERMSVC_LOINC].")
@click.option("--no-defaults", is_flag=True,
              help="Load only the sources given (no IG, FHIR packages, DICOM, mapping tables, configured releases).")
@click.option("--keep-going", is_flag=True, help="Skip a source that fails instead of abandoning the build.")
@click.option("--include-unaccepted-mappings", is_flag=True,
              help="Also load mapping-table rows not yet accepted by a reviewer.")
@click.option("--no-preexpand", is_flag=True, help="Do not pre-expand the value sets.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def build_cmd(db, fhir, packages, snomed, loinc, no_defaults, keep_going, include_unaccepted_mappings,
              no_preexpand, quiet):
    """Build the content database aside and swap it in (the served file changes only on success)."""
    db_path = resolve_db(db)
    sources: list[SourceSpec] = []
    if not no_defaults:
        sources += default_sources(include_unaccepted_mappings=include_unaccepted_mappings)
        snomed, loinc = release_locations(snomed, loinc)
    else:
        snomed, loinc = list(snomed), loinc
    sources += [SourceSpec("package", p) for p in packages]
    sources += [SourceSpec("fhir", p) for p in fhir]
    sources += [SourceSpec("snomed", p) for p in snomed]
    if loinc:
        sources.append(SourceSpec("loinc", loinc))
    if not sources:
        raise CliError("nothing to build: --no-defaults without --fhir/--package/--snomed/--loinc")
    summary = run_build(db_path, sources, quiet=quiet, keep_going=keep_going, preexpand=not no_preexpand)
    if not quiet:
        click.echo(f"built {db_path}: {summary['code_systems']} code systems, {summary['value_sets']} value sets,"
                   f" {summary['concept_maps']} concept maps, {summary['concepts']} concepts,"
                   f" {summary['size_bytes'] / 1e6:.1f} MB")
    if summary.get("failures"):
        for f in summary["failures"]:
            click.echo(f"termsvc: skipped: {f}", err=True)


def run_build(db_path, sources, quiet=False, keep_going=False, preexpand=True) -> dict:
    if preexpand:
        try:
            import termsvc.ops.preexpand  # noqa: F401
        except ImportError:
            if not quiet:
                click.echo("termsvc: note: pre-expansion is not available in this installation; building without it",
                           err=True)
            preexpand = False
    try:
        return build(db_path, sources, Progress(quiet=quiet), keep_going=keep_going, preexpand=preexpand)
    except BuildError as e:
        raise CliError(str(e))
    except OSError as e:
        raise CliError(f"{getattr(e, 'filename', None) or db_path}: {e.strerror or e}")


@cli.command("serve")
@click.option("--db", "db", metavar="PATH", help="Database file [$TERMSVC_DB, data/termsvc.db].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", type=int, default=None, help="Worker processes [the server's default].")
@click.option("--build-if-missing", is_flag=True, help="Build the default content first when the database is missing.")
def serve_cmd(db, host, port, workers, build_if_missing):
    """Serve the FHIR terminology API over HTTP."""
    db_path = resolve_db(db)
    if not os.path.isfile(db_path):
        if not build_if_missing:
            raise CliError(f"{db_path}: no database; run `termsvc build` first (or use --build-if-missing)")
        sources = default_sources()
        snomed, loinc = release_locations((), None)
        sources += [SourceSpec("snomed", p) for p in snomed]
        if loinc:
            sources.append(SourceSpec("loinc", loinc))
        run_build(db_path, sources)
    try:
        from termsvc.api.server import serve
    except ImportError as e:
        raise CliError(f"the HTTP API is not available in this installation (termsvc.api.server): {e}")
    serve(db_path, host, port, workers=workers)


@cli.group("packages")
def packages_group():
    """FHIR NPM packages in the package cache ($FHIR_PACKAGE_CACHE, ~/.fhir/packages)."""


@packages_group.command("fetch")
@click.argument("specs", nargs=-1, metavar="NAME#VERSION...")
@click.option("--defaults", is_flag=True, help=f"Fetch the default packages ({', '.join(DEFAULT_PACKAGES)}).")
def packages_fetch(specs, defaults):
    """Make packages present in the cache (from the npm registry, else `npm pack`)."""
    from termsvc.loaders.fhir_package import fetch
    specs = list(specs) + (DEFAULT_PACKAGES if defaults else [])
    if not specs:
        raise CliError("no package given (NAME#VERSION, or --defaults)")
    for spec in specs:
        try:
            path = fetch(spec)
        except BuildError as e:
            raise CliError(str(e))
        click.echo(f"{spec}\t{path}")


# -- info ----------------------------------------------------------------------

def db_info(db_path: str) -> dict:
    if not os.path.isfile(db_path):
        raise CliError(f"{db_path}: no database; run `termsvc build` first")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
        sources = []
        for r in conn.execute("SELECT id, name, kind, version, location, sha256, loaded_at, counts"
                              " FROM source ORDER BY id"):
            d = dict(r)
            d["counts"] = json.loads(d["counts"] or "{}")
            sources.append(d)
        totals = {
            "code_systems": conn.execute("SELECT count(*) FROM code_system").fetchone()[0],
            "value_sets": conn.execute("SELECT count(*) FROM value_set").fetchone()[0],
            "concept_maps": conn.execute("SELECT count(*) FROM concept_map").fetchone()[0],
            "concepts": conn.execute("SELECT count(*) FROM concept").fetchone()[0],
        }
        # 'error: <reason>' states are counted together (`termsvc info --json` is not a log)
        states = {r[0] or "none": r[1] for r in conn.execute(
            "SELECT CASE WHEN expansion_state LIKE 'error:%' THEN 'not expandable' ELSE expansion_state END,"
            " count(*) FROM value_set GROUP BY 1")}
        conn.close()
    except sqlite3.DatabaseError as e:
        raise CliError(f"{db_path}: not a termsvc database: {e}")
    return {
        "db": db_path,
        "size_bytes": os.path.getsize(db_path),
        "schema_version": meta.get("schema_version"),
        "built_at": meta.get("built_at"),
        "build_seconds": float(meta["build_seconds"]) if meta.get("build_seconds") else None,
        "totals": totals,
        "expansion_states": states,
        "sources": sources,
    }


def _fmt_counts(counts: dict) -> str:
    order = ["CodeSystem", "ValueSet", "ConceptMap", "concepts"]
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return ", ".join(f"{k} {counts[k]}" for k in keys)


@cli.command("info")
@click.option("--db", "db", metavar="PATH", help="Database file [$TERMSVC_DB, data/termsvc.db].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
def info_cmd(db, as_json):
    """What a build holds: its sources (with sha256 and counts), totals and build time."""
    info = db_info(resolve_db(db))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    t = info["totals"]
    secs = f" in {info['build_seconds']:.1f} s" if info["build_seconds"] is not None else ""
    click.echo(f"database   {info['db']} ({info['size_bytes'] / 1e6:.1f} MB, schema {info['schema_version']})")
    click.echo(f"built      {info['built_at']}{secs}")
    click.echo(f"content    {t['code_systems']} code systems, {t['value_sets']} value sets,"
               f" {t['concept_maps']} concept maps, {t['concepts']} concepts")
    click.echo("expansions " + ", ".join(f"{k} {v}" for k, v in sorted(info["expansion_states"].items())))
    click.echo("")
    rows = [("NAME", "KIND", "VERSION", "SHA256", "LOADED", "COUNTS")]
    for s in info["sources"]:
        rows.append((s["name"] or "", s["kind"] or "", s["version"] or "", (s["sha256"] or "-")[:12],
                     s["loaded_at"] or "", _fmt_counts(s["counts"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])


# -- commands from other parts of the project ----------------------------------------

from termsvc.dicom_codes import dicom_codes_cmd  # noqa: E402
from termsvc.oneshot import COMMANDS as _ONESHOT  # noqa: E402

for _cmd in (*_ONESHOT, dicom_codes_cmd):
    cli.add_command(_cmd)

try:
    from termsvc.mappings.cli import mappings as _mappings_group
    cli.add_command(_mappings_group)
except ImportError:
    pass
except Exception as _e:  # a broken mappings module must not take the other commands down
    print(f"termsvc: warning: the mappings commands are unavailable: {_e}", file=sys.stderr)


if __name__ == "__main__":
    main()
