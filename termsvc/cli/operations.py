"""The terminology operations as commands: `termsvc translate | validate | lookup | expand`.

They answer from the local database in process (`--db`, the same operation code the server
runs, no HTTP) or from a server (`--server http://host:8080/fhir`, through
termsvc.client); readable text by default, `--json` for programs. `termsvc translate` also
reads many codes (stdin or `--input FILE`, one a line, or a CSV column with `--column`) and
writes CSV (one row per match) for bulk work.

Exit status: 0 yes (translated, valid, found), 1 no (no translation for some code, invalid
code, a code not found), 2 the question could not be answered (bad input, unknown value set, map
or code system, a validation that cannot be judged, an expansion that is not closed, no database,
server unreachable).
"""
import csv
import dataclasses
import io
import sys

import click
import orjson

from termsvc.cli.common import Unanswerable, open_client, with_settings
from termsvc.client import CANNOT_JUDGE, VALID, TerminologyError
from termsvc.fhir.dicom import cid_url
from termsvc.mappings.reading import canonical_header, decode_bytes, sniff_delimiter


def source_options(fn):
    """--db / --server / --r4 / --json (and the settings), shared by the one-shot commands."""
    fn = with_settings("db")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")(fn)
    fn = click.option("--r4", is_flag=True, help="Ask in FHIR R4 terms (with --server, give the server's R4 base URL).")(fn)
    fn = click.option("--server", metavar="URL",
                      help="Ask this FHIR terminology server (base URL, e.g. http://127.0.0.1:8080/fhir)"
                           " instead of the local database.")(fn)
    fn = click.option("--db", metavar="PATH", help="Local database [setting db].")(fn)
    return fn


def emit_json(obj):
    click.echo(orjson.dumps(obj, default=_plain, option=orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS).decode())


def _plain(o):
    if isinstance(o, TerminologyError):
        return {"status": o.status, "message": o.message}
    if dataclasses.is_dataclass(o):
        return _without_empty(dataclasses.asdict(o))
    raise TypeError(type(o))


def _without_empty(v):
    if isinstance(v, dict):
        return {k: _without_empty(x) for k, x in v.items() if k != "raw" and x not in (None, [], {})}
    return [_without_empty(x) for x in v] if isinstance(v, list) else v


def _issues_text(issues) -> list[str]:
    return [f"  {i.severity}: {i.text}" for i in issues]


def asking(fn):
    """Run fn(); a TerminologyError becomes exit status 2 with its message."""
    try:
        return fn()
    except TerminologyError as e:
        raise Unanswerable(e.message) from e


def value_set_argument(value: str) -> dict:
    """A value set named on the command line: its canonical URL, a DICOM context group as DICOM
    writes it ("CID 33", "CID-33"), or else its id."""
    if "://" in value or value.startswith(("urn:", "#")):
        return {"url": value}
    if url := cid_url(value):
        return {"url": url}
    return {"value_set_id": value}


# -- translate ---------------------------------------------------------------------------------

CSV_COLUMNS = ["source_code", "source_system", "result", "relationship", "target_system", "target_code",
               "target_display", "map", "message"]


@click.command("translate")
@click.argument("code", required=False)
@click.option("--system", "-s", metavar="URI", help="The code system of the code(s).")
@click.option("--url", metavar="CANONICAL", help="The ConceptMap to use (default: every map that knows the code).")
@click.option("--target-system", metavar="URI", help="Only translations into this code system.")
@click.option("--dependency", "dependencies", metavar="ATTRIBUTE=VALUE", multiple=True,
              help="What else is known of the concept (repeatable): the attribute (a uri, or the map's code for"
                   " it) and a code or system|code, e.g. --dependency laterality=http://snomed.info/sct|7771000;"
                   " targets whose dependsOn it contradicts are left out.")
@click.option("--input", "input_path", metavar="FILE",
              help="Many codes: a file of codes, one a line, or a CSV with --column ('-': stdin). Without CODE"
                   " and --input, codes are read from stdin.")
@click.option("--column", metavar="NAME", help="The CSV column that holds the codes (header name).")
@source_options
def translate_cmd(settings, code, system, url, target_system, dependencies, input_path, column, db, server, r4,
                  as_json):
    """Translate a code (or many) through the loaded ConceptMaps."""
    dependencies = [_dependency(d) for d in dependencies]
    if code is not None and input_path is not None:
        raise click.UsageError("give a CODE or --input FILE, not both")
    if code is None and input_path is None and sys.stdin.isatty():
        raise click.UsageError("give a CODE, or codes on stdin / with --input FILE")
    client = open_client(settings, server, r4)
    if code is not None:
        r = asking(lambda: client.translate(code, system, url=url, target_system=target_system,
                                            dependencies=dependencies))
        if as_json:
            emit_json(r)
        else:
            click.echo(f"{system + '|' if system else ''}{code}: "
                       + ("translated" if r.result else "no translation"))
            for m in r.matches:
                click.echo(f"  {m.relationship or m.equivalence:<31} {m.system}|{m.code}  {m.display or ''}"
                           f"  [{m.origin_map}]")
            if r.message:
                click.echo(f"  {r.message}")
        sys.exit(0 if r.result else 1)
    codes = read_codes(input_path or "-", column)
    results = asking(lambda: client.translate_many(codes, system, url=url, target_system=target_system,
                                                   dependencies=dependencies))
    if as_json:
        emit_json([{"source_code": c, "source_system": system, **_plain(r)} for c, r in zip(codes, results)])
    else:
        write_csv(codes, system, results)
    sys.exit(0 if all(r.result for r in results) else 1)


def _dependency(given: str) -> tuple[str, str | dict]:
    """--dependency ATTRIBUTE=VALUE: (attribute, a code or a Coding {system, code} for system|code)."""
    attribute, _, value = given.partition("=")
    if not attribute or not value:
        raise click.BadParameter(f"'{given}': give ATTRIBUTE=VALUE (a code or system|code)", param_hint="--dependency")
    system, bar, code = value.rpartition("|")
    return attribute, ({"system": system, "code": code} if bar and system else value.lstrip("|"))


def read_codes(path: str, column: str | None) -> list[str]:
    """The codes of a file (or stdin): one a line, or the column `column` of a CSV. Kept as written
    (no number conversion); surrounding blanks trimmed, empty lines/cells skipped."""
    data = sys.stdin.buffer.read() if path == "-" else _read_file(path)
    text, _ = decode_bytes(data)
    if column is None:
        return [line.strip() for line in text.splitlines() if line.strip()]
    rows = list(csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text)))
    if not rows:
        raise Unanswerable(f"{path}: empty: no header line with the column '{column}'")
    headers = [canonical_header(h) for h in rows[0]]
    if canonical_header(column) not in headers:
        raise Unanswerable(f"{path}: no column '{column}' (columns: {', '.join(rows[0])})")
    i = headers.index(canonical_header(column))
    return [r[i].strip() for r in rows[1:] if len(r) > i and r[i].strip()]


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise Unanswerable(f"{path}: {e.strerror}") from e


def write_csv(codes, system, results):
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for code, r in zip(codes, results):
        base = [code, system or "", "true" if r.result else "false"]
        if not r.matches:
            out.writerow(base + ["", "", "", "", "", r.message or ""])
        for m in r.matches:
            out.writerow(base + [m.relationship or "", m.system or "", m.code or "", m.display or "",
                                 m.origin_map or "", m.message or ""])


# -- validate -------------------------------------------------------------------------------------

@click.command("validate")
@click.argument("code")
@click.option("--system", "-s", metavar="URI", help="The code system of the code (with --valueset: inferred from"
                                                    " the value set when not given).")
@click.option("--valueset", "--url", "valueset", metavar="URL|ID",
              help="Validate against this value set, by canonical URL or id (else against the code system).")
@click.option("--display", metavar="TEXT", help="Check this display too.")
@click.option("--version", metavar="VERSION", help="The code system version.")
@source_options
def validate_cmd(settings, code, system, valueset, display, version, db, server, r4, as_json):
    """Validate a code against a code system or a value set (exit 0 valid, 1 invalid, 2 when it cannot
    be judged: the answer depends on content the build does not hold)."""
    if not system and not valueset:
        raise click.UsageError("give --system, --valueset or both")
    client = open_client(settings, server, r4)
    where = value_set_argument(valueset) if valueset else {}
    r = asking(lambda: client.validate_code(code, system, display=display, version=version, **where))
    if as_json:
        emit_json(r)
    else:
        verdict = {VALID: "valid", CANNOT_JUDGE: "cannot be judged"}.get(r.verdict, "invalid")
        click.echo(f"{r.system + '|' if r.system else ''}{r.code or code}"
                   f"{' ' + repr(r.display) if r.display else ''}: {verdict} in {valueset or system}")
        for line in _issues_text(r.issues) or ([f"  {r.message}"] if r.message else []):
            click.echo(line)
    sys.exit({VALID: 0, CANNOT_JUDGE: 2}.get(r.verdict, 1))


# -- lookup ---------------------------------------------------------------------------------------

@click.command("lookup")
@click.argument("code")
@click.option("--system", "-s", metavar="URI", required=True, help="The code system of the code.")
@click.option("--version", metavar="VERSION", help="The code system version.")
@click.option("--property", "properties", multiple=True, metavar="CODE", help="A property to return (repeatable).")
@click.option("--language", metavar="LANG", help="The display language (e.g. de-DE).")
@source_options
def lookup_cmd(settings, code, system, version, properties, language, db, server, r4, as_json):
    """Look a code up: display, code system name and version, designations, properties."""
    client = open_client(settings, server, r4)
    try:
        r = client.lookup(code, system, version=version, properties=properties, display_language=language)
    except TerminologyError as e:   # not in its code system, or not a possible code of it: a no
        if not any(i.message_id == "Unknown_Code_in_Version" or i.tx_type == "invalid-code" for i in e.issues):
            raise Unanswerable(e.message) from e  # the code system is not loaded, a fragment cannot say, ...
        if as_json:
            emit_json({"code": code, "system": system, "found": False, "message": e.issues[0].text})
        else:
            click.echo(f"{system}|{code}: not found: {e.issues[0].text}")
        sys.exit(1)
    if as_json:
        emit_json(r)
        return
    click.echo(f"{r.system}|{r.code}  {r.display or ''}")
    click.echo(f"  code system {r.name or ''} {r.version or ''}".rstrip())
    for d in r.designations:
        use = (d.get("use") or {}).get("display") or (d.get("use") or {}).get("code") or ""
        click.echo(f"  designation [{d.get('language') or ''}{' ' + use if use else ''}] {d.get('value')}")
    for p in r.properties:
        value = p.get("value")
        if isinstance(value, dict):
            value = f"{value.get('system', '')}|{value.get('code', '')}" if "code" in value else orjson.dumps(value).decode()
        click.echo(f"  property {p.get('code')} = {value}")


# -- expand ---------------------------------------------------------------------------------------

@click.command("expand")
@click.argument("valueset", metavar="URL|ID")
@click.option("--filter", "text", metavar="TEXT", help="Only concepts whose display matches these words.")
@click.option("--limit", "--count", "limit", type=click.IntRange(min=0), metavar="N", help="At most N concepts.")
@click.option("--page-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Concepts per request.")
@source_options
def expand_cmd(settings, valueset, text, limit, page_size, db, server, r4, as_json):
    """Expand a value set (by canonical URL or id): one concept a line (system|code, display), or a JSON
    list. An expansion the server says is not the whole value set (valueset-unclosed: e.g. a filter
    over a fragment) is printed as far as it goes, with the reason on stderr, and exits 2."""
    client = open_client(settings, server, r4)
    expansion = asking(lambda: client.expand(**value_set_argument(valueset), filter=text, page_size=page_size,
                                             limit=limit))
    concepts = asking(lambda: list(expansion))
    if as_json:
        emit_json(concepts)
    else:
        for c in concepts:
            flags = "".join(f" ({f})" for f in ("inactive", "abstract") if getattr(c, f))
            click.echo(f"{c.system}|{c.code}\t{c.display or ''}{flags}")
    if expansion.unclosed:
        click.echo(f"termsvc: the expansion of {valueset} is not the whole value set (valueset-unclosed): "
                   f"{expansion.unclosed_reason or 'the server gives no reason'}", err=True)
        sys.exit(2)


COMMANDS = [translate_cmd, validate_cmd, lookup_cmd, expand_cmd]
