"""`termsvc info` (what a build holds) and `termsvc settings` (the settings in effect)."""
import os

import click
import orjson

from termsvc import settings as settings_mod
from termsvc.cli.common import CliError, with_settings
from termsvc.store.digest import build_sha256
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store


def db_info(db_path: str) -> dict:
    if not os.path.isfile(db_path):
        raise CliError(f"{db_path}: no database; run `termsvc build` first")
    store = Store(db_path)
    try:
        store.check(db_path)
        meta = store.meta_all()
        info = {
            "db": db_path,
            "size_bytes": os.path.getsize(db_path),
            "sha256": build_sha256(db_path),
            "schema_version": meta.get("schema_version"),
            "built_at": meta.get("built_at"),
            "build_seconds": float(meta["build_seconds"]) if meta.get("build_seconds") else None,
            "totals": store.totals(),
            "expansion_states": store.expansion_states(),
            "sources": store.sources(),
        }
    except NotADatabase as e:
        raise CliError(str(e)) from None
    finally:
        store.close()
    return info


def _fmt_counts(counts: dict) -> str:
    order = ["CodeSystem", "ValueSet", "ConceptMap", "concepts"]
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return ", ".join(f"{k} {counts[k]}" for k in keys)


@click.command("info")
@click.option("--db", metavar="PATH", help="Database file [setting db].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@click.option("--expect-sha256", metavar="HEX", help="Exit 1 unless the build's sha256 is this one.")
@with_settings("db")
def info_cmd(settings, db, as_json, expect_sha256):
    """What a build holds: its sources (with sha256 and counts), totals and build time."""
    info = db_info(settings.db)
    if expect_sha256 is not None and info["sha256"] != expect_sha256.strip().lower():
        raise CliError(f"{settings.db}: the build's sha256 is {info['sha256']}, not {expect_sha256!r}")
    if as_json:
        click.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return
    t = info["totals"]
    secs = f" in {info['build_seconds']:.1f} s" if info["build_seconds"] is not None else ""
    click.echo(f"database   {info['db']} ({info['size_bytes'] / 1e6:.1f} MB, schema {info['schema_version']})")
    click.echo(f"built      {info['built_at']}{secs}")
    click.echo(f"sha256     {info['sha256']}")
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


@click.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@with_settings(listed=True)
def settings_cmd(settings, as_json):
    """The settings in effect: value and where it came from (exit 1 when one is invalid)."""
    rows = [{"name": s.name, "env": s.env, "value": settings.shown(s.name) if s.secret else getattr(settings, s.name),
             "origin": settings.origin(s.name)} for s in settings_mod.SETTINGS]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name'].ljust(width)}  {settings.shown(r['name']) or '-'}  ({r['origin']})")


COMMANDS = [info_cmd, settings_cmd]
