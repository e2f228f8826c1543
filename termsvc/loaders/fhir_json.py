"""Load FHIR JSON resources: a single file, a Bundle (nested Bundles too) or a folder.

    termsvc build --fhir my-valuesets/ --fhir extra/CodeSystem-x.json

CodeSystem, ValueSet and ConceptMap resources (R4 or R5 JSON) are stored; any
other resource, and JSON that is not a FHIR resource at all (package.json,
.index.json, editor settings...), is skipped quietly. Malformed JSON, a file larger than
the setting max_json_bytes and a terminology resource whose elements have the wrong shape (a code that is not a
string, a code given twice in one CodeSystem, a control character in a concept's text...: fhir.shape.shape_problem,
the rule a request's resources are held to as well) are a BuildError naming the file and the element.
"""
import hashlib
import os
import sqlite3
from collections.abc import Iterator

import orjson

from termsvc import settings
from termsvc.fhir.bundle import iter_bundle
from termsvc.fhir.shape import shape_problem
from termsvc.files import NotRegularFile, open_regular
from termsvc.store.digest import file_sha256
from termsvc.loaders.protocol import BuildError

TERMINOLOGY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")


def read_json(path: str, label: str | None = None) -> object:
    """Parse one JSON file; BuildError naming the file (`label`: as the user knows it, say the package's
    name for it) when it is not valid JSON or larger than the setting max_json_bytes (by default 8x the
    largest file of the FHIR core and THO packages; memory: a few times this)."""
    label = label or path
    most = settings.current().max_json_bytes
    try:
        with open_regular(path) as f:
            data = f.read(most + 1)
    except NotRegularFile as e:
        raise BuildError(f"{label}: {e.strerror}") from None
    except OSError as e:
        raise BuildError(f"{label}: cannot read: {e.strerror or e}") from e
    if len(data) > most:
        raise BuildError(f"{label}: larger than {most:,} bytes, the most a JSON file may hold here (setting"
                         " max_json_bytes)")
    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 BOM (common in IG publisher output)
        data = data[3:]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BuildError(f"{label}: malformed JSON: {e}") from e


def add_resource(writer, res: dict, source_id: int, fhir_version: str, label: str, **kw) -> None:
    """Store a terminology resource read from `label`; BuildError naming the file and the element when it
    cannot be stored."""
    problem = shape_problem(res)
    named = next((v for v in (res.get("url"), res.get("id")) if isinstance(v, str) and v), "")
    name = f"{res.get('resourceType')} {named}".rstrip()
    if problem:
        raise BuildError(f"{label}: {name}: {problem}")
    try:
        writer.add_resource(res, source_id, fhir_version, **kw)
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError, sqlite3.IntegrityError) as e:
        raise BuildError(f"{label}: {name}: cannot be stored: {type(e).__name__}: {e}") from None


def add_naming_system(writer, res: dict, source_id: int, fhir_version: str, label: str) -> bool:
    """Keep a code system's NamingSystem read from `label` (its OID and URIs); BuildError when it cannot be."""
    try:
        return writer.add_naming_system(res, source_id, fhir_version)
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise BuildError(f"{label}: NamingSystem {res.get('url') or res.get('id')}: cannot be stored:"
                         f" {type(e).__name__}: {e}") from None


def json_files(path: str, suffixes: tuple = (".json",)) -> list[str]:
    """Files with these suffixes under a folder, recursively, in a stable (sorted) order; hidden ones skipped."""
    out = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(suffixes) and not name.startswith("."):
                out.append(os.path.join(root, name))
    return out


def iter_resources(path: str) -> Iterator[dict]:
    """Yield every FHIR resource in a JSON file, Bundle or folder of JSON files."""
    return (res for _file, res in located_resources(path))


def located_resources(path: str) -> Iterator[tuple[str, dict]]:
    """(file, resource) of every FHIR resource in a JSON file, Bundle or folder of JSON files."""
    if os.path.isdir(path):
        for f in json_files(path):
            yield from ((f, r) for r in iter_bundle(read_json(f)))
    elif os.path.exists(path):
        yield from ((path, r) for r in iter_bundle(read_json(path)))
    else:
        raise BuildError(f"{path}: no such file or folder")


def content_sha256(path: str, suffixes: tuple = (".json",)) -> str:
    """sha256 of a file (a zip, say), or of a folder's files with these suffixes (relative names
    and contents, sorted). BuildError naming a file that cannot be read (a fifo: termsvc.files)."""
    try:
        if not os.path.isdir(path):
            return file_sha256(path)
        h = hashlib.sha256()
        for f in json_files(path, suffixes):
            h.update(os.path.relpath(f, path).replace(os.sep, "/").encode() + b"\0")
            h.update(bytes.fromhex(file_sha256(f)))
        return h.hexdigest()
    except OSError as e:
        raise BuildError(f"{e.filename or path}: cannot read: {e.strerror or e}") from None


def fhir_version_of(res: dict, default: str) -> str:
    """"R4" for a ConceptMap in R4 shape (equivalence, sourceUri...), else `default`."""
    if res.get("resourceType") == "ConceptMap":
        from termsvc.fhir.convert import is_r4_concept_map
        if is_r4_concept_map(res):
            return "R4"
    return default


def load(writer, location, progress, fhir_version: str = "R5", name: str | None = None, **_opts):
    if not location:
        raise BuildError("fhir: no file or folder given")
    path = os.path.abspath(os.path.expanduser(location))
    if not os.path.exists(path):
        raise BuildError(f"{location}: no such file or folder")
    resources = list(located_resources(path))  # parse everything first: malformed JSON fails early
    sid = writer.add_source(name or os.path.basename(path.rstrip(os.sep)), "fhir-json", None,
                            path, content_sha256(path))
    skipped = 0
    for file, res in resources:
        if res.get("resourceType") in TERMINOLOGY_TYPES:
            add_resource(writer, res, sid, fhir_version_of(res, fhir_version), file)
        elif not (res.get("resourceType") == "NamingSystem" and add_naming_system(writer, res, sid, fhir_version, file)):
            skipped += 1
    counts = writer.finish_source(sid, {"skipped_other_resources": skipped} if skipped else None)
    progress(f"  {os.path.basename(path)}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return counts
