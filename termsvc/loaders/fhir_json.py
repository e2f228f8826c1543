"""Load FHIR JSON resources: a single file, a Bundle (nested Bundles too) or a folder.

    termsvc build --fhir my-valuesets/ --fhir extra/CodeSystem-x.json

CodeSystem, ValueSet and ConceptMap resources (R4 or R5 JSON) are stored; any
other resource, and JSON that is not a FHIR resource at all (package.json,
.index.json, editor settings...), is skipped quietly. Malformed JSON is a
BuildError naming the file.
"""
import hashlib
import os
from collections.abc import Iterator

import orjson

from termsvc.fhir.bundle import iter_bundle
from termsvc.loaders.protocol import BuildError

TERMINOLOGY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")


def read_json(path: str) -> object:
    """Parse one JSON file; BuildError naming the file when it is not valid JSON."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BuildError(f"{path}: cannot read: {e.strerror or e}") from e
    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 BOM (common in IG publisher output)
        data = data[3:]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BuildError(f"{path}: malformed JSON: {e}") from e


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
    if os.path.isdir(path):
        for f in json_files(path):
            yield from iter_bundle(read_json(f))
    elif os.path.isfile(path):
        yield from iter_bundle(read_json(path))
    else:
        raise BuildError(f"{path}: no such file or folder")


def content_sha256(path: str, suffixes: tuple = (".json",)) -> str:
    """sha256 of a file (a zip, say), or of a folder's files with these suffixes (relative names
    and contents, sorted)."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        for f in json_files(path, suffixes):
            h.update(os.path.relpath(f, path).replace(os.sep, "/").encode() + b"\0")
            fh_hash = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    fh_hash.update(chunk)
            h.update(fh_hash.digest())
    else:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


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
    resources = list(iter_resources(path))  # parse everything first: malformed JSON fails early
    sid = writer.add_source(name or os.path.basename(path.rstrip(os.sep)), "fhir-json", None,
                            path, content_sha256(path))
    skipped = 0
    for res in resources:
        if res.get("resourceType") in TERMINOLOGY_TYPES:
            writer.add_resource(res, sid, fhir_version_of(res, fhir_version))
        else:
            skipped += 1
    counts = writer.finish_source(sid, {"skipped_other_resources": skipped} if skipped else None)
    progress(f"  {os.path.basename(path)}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return counts
