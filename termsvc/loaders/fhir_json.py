"""Load FHIR JSON resources: a single file, a Bundle (nested Bundles too) or a folder.

    termsvc build --fhir my-valuesets/ --fhir extra/CodeSystem-x.json

CodeSystem, ValueSet and ConceptMap resources (R4 or R5 JSON) are stored; any
other resource, and JSON that is not a FHIR resource at all (package.json,
.index.json, editor settings...), is skipped quietly. Malformed JSON, a file larger than
the setting max_json_bytes and a terminology resource whose elements have the wrong shape (a code that is not a
string, a code given twice in one CodeSystem, a control character in a concept's text...) are a BuildError
naming the file and the element.
"""
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from termsvc import settings
from termsvc.fhir.bundle import iter_bundle
from termsvc.files import NotRegularFile, open_regular
from termsvc.store.digest import file_sha256
from termsvc.fhir.shape import CONTROL_CHARACTER, control_character
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


# -- the shape of a terminology resource: what the store reads of it --------------------------------
# a spec is a type (str, dict: any object), a {key: spec} object or a [spec] list
_SET = {"system": str, "version": str, "valueSet": [str], "concept": [{"code": str, "display": str}],
        "filter": [{"property": str, "op": str}]}
SHAPES: dict[str, dict] = {
    "CodeSystem": {"property": [{"code": str, "type": str}], "filter": [{"code": str}]},   # (concepts: below)
    "ValueSet": {"compose": {"include": [_SET], "exclude": [_SET]}},
    "ConceptMap": {"group": [{"source": str, "target": str, "sourceVersion": str, "targetVersion": str,
                              "element": [{"code": str, "target": [{"code": str, "display": str}]}]}]},
}
_COMMON = {"resourceType": str, "id": str, "url": str, "version": str, "name": str, "title": str, "status": str}


def shape_problem(res: dict) -> str | None:
    """What is wrong with the shape of a terminology resource (the element, and what it should be), or None;
    a code given twice in a CodeSystem, or a control character in a concept's text, is wrong too."""
    rtype = str(res.get("resourceType"))
    misfit = None if _FITS.get(rtype, _FITS_COMMON)(res) else _misfit(res, {**_COMMON, **SHAPES.get(rtype, {})}, rtype)
    if misfit:
        return misfit
    if rtype == "CodeSystem":
        return _concepts_problem(res.get("concept"), f"{rtype}.concept")
    return _compose_text_problem(res) if rtype == "ValueSet" else None


def _misfit(res: dict, spec: dict, rtype: str) -> str | None:
    """Where the resource does not fit its spec. Walked without recursion: elements nest as deep as the
    JSON does."""
    stack: list[tuple[Any, Any, str]] = [(res, spec, rtype)]   # (found, and named)
    while stack:
        node, spec, where = stack.pop()
        if isinstance(spec, list):
            if not isinstance(node, list):
                return f"{where} is not a list"
            stack += [(item, spec[0], f"{where}[{i}]") for i, item in enumerate(node)]
        elif isinstance(spec, dict):
            if not isinstance(node, dict):
                return f"{where} is not an object"
            stack += [(node[k], s, f"{where}.{k}") for k, s in spec.items() if node.get(k) is not None]
        elif not isinstance(node, spec):
            return f"{where} is not {'a string' if spec is str else 'an object'}"
    return None


def _fitting(spec) -> Callable[[Any], bool]:
    """Whether a value fits the spec, as a function made once per spec (the fast path of shape_problem: the
    values of a package's resources are checked, not described)."""
    if isinstance(spec, list):
        item = _fitting(spec[0])
        return lambda node: isinstance(node, list) and all(map(item, node))
    if isinstance(spec, dict):
        strings = tuple(k for k, s in spec.items() if s is str)
        others = tuple((k, _fitting(s)) for k, s in spec.items() if s is not str)
        return lambda node: (isinstance(node, dict)
                             and all(isinstance(v, str) for k in strings if (v := node.get(k)) is not None)
                             and all(check(v) for k, check in others if (v := node.get(k)) is not None))
    return lambda node: isinstance(node, spec)


_FITS = {rtype: _fitting({**_COMMON, **spec}) for rtype, spec in SHAPES.items()}
_FITS_COMMON = _fitting(_COMMON)


def _concepts_problem(concepts, where: str) -> str | None:
    """What is wrong with a CodeSystem's concepts (nested ones too): each an object, its code a string given
    once, its display and definition strings, its designations and properties lists of objects. (The hot
    part of loading a package: the place of a concept is spelt out only when something is wrong there.)"""
    first: dict[str, tuple[str, int]] = {}
    stack = [(concepts, where)] if concepts is not None else []
    while stack:
        items, at = stack.pop()
        if not isinstance(items, list):
            return f"{at} is not a list"
        for i, c in enumerate(items):
            if not isinstance(c, dict):
                return f"{at}[{i}] is not an object"
            code = c.get("code")
            if code is not None:
                if not isinstance(code, str):
                    return f"{at}[{i}].code is not a string"
                if code in first:
                    return (f"{at}[{i}]: the code {code!r} is given twice in the code system (first at"
                            f" {first[code][0]}[{first[code][1]}])")
                first[code] = (at, i)
            for key in ("display", "definition"):
                if c.get(key) is not None and not isinstance(c[key], str):
                    return f"{at}[{i}].{key} is not a string"
            for key in ("designation", "property"):
                value = c.get(key)
                if value is not None and not (isinstance(value, list) and all(isinstance(x, dict) for x in value)):
                    return f"{at}[{i}].{key} is not a list of objects"
            text = _text_problem(c, f"{at}[{i}]")
            if text:
                return text
            if c.get("concept") is not None:
                stack.append((c["concept"], f"{at}[{i}].concept"))
    return None


def _text_problem(c: dict, at: str) -> str | None:
    """A control character (fhir.shape.CONTROL_CHARACTER) in a concept's code, display, definition or
    designations, named by element."""
    for key in ("code", "display", "definition"):
        value = c.get(key)
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            return f"{at}.{key}: {control_character(value)}"
    for j, d in enumerate(c.get("designation") or ()):
        value = d.get("value") if isinstance(d, dict) else None
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            return f"{at}.designation[{j}].value: {control_character(value)}"
    return None


def _compose_text_problem(vs: dict) -> str | None:
    """_text_problem of the concepts a ValueSet's compose lists (its shape already checked)."""
    for part in ("include", "exclude"):
        for i, inc in enumerate((vs.get("compose") or {}).get(part) or ()):
            for j, c in enumerate(inc.get("concept") or ()):
                problem = _text_problem(c, f"ValueSet.compose.{part}[{i}].concept[{j}]")
                if problem:
                    return problem
    return None


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
