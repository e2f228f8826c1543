"""What `termsvc check-resource` reads: FHIR JSON files, folders of them (recursive), Bundles and NDJSON
(one resource per line, FHIR bulk data's format). A file, a line or a Bundle entry that is no FHIR
resource is a problem said with its place (file, line, entry); the rest is read and checked all the same.
"""
import os
from dataclasses import dataclass

import orjson

from termsvc.files import NotRegularFile, open_regular

SUFFIXES = (".json", ".ndjson")
# one file read whole (memory: a few times this); a larger one is a problem, not read
MAX_FILE_BYTES = 256 << 20


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file, a line of one or a Bundle entry that could not be read as a FHIR resource."""
    file: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


def read_inputs(paths) -> tuple[list[tuple[str, dict]], list[Unreadable]]:
    """((file, resource) of every resource in the files, folders and Bundles, [what could not be read])."""
    found: list[tuple[str, dict]] = []
    unreadable: list[Unreadable] = []
    for path in paths:
        if os.path.isdir(path):
            files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(SUFFIXES))
            if not files:
                unreadable.append(Unreadable(path, f"no {' or '.join(SUFFIXES)} files"))
        else:
            files = [path]
        for f in files:
            for where, value in _documents(f, unreadable):
                if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                    unreadable.append(Unreadable(f, f"{where}not a FHIR resource (no resourceType)"))
                    continue
                found += [(f, r) for r in _unbundle(value, f, where, unreadable)]
    return found, unreadable


def _documents(file: str, unreadable: list[Unreadable]):
    """('' or 'line N: ', parsed JSON) of a JSON file, or of each line of an NDJSON one."""
    try:
        with open_regular(file) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except NotRegularFile as e:
        unreadable.append(Unreadable(file, str(e.strerror)))
        return
    except OSError as e:
        unreadable.append(Unreadable(file, f"cannot read: {e.strerror or e}"))
        return
    if len(data) > MAX_FILE_BYTES:
        unreadable.append(Unreadable(file, f"larger than {MAX_FILE_BYTES >> 20} MB: not read"))
        return
    data = data.removeprefix(b"\xef\xbb\xbf")
    if data.lstrip().startswith(b"<"):
        unreadable.append(Unreadable(file, "XML: FHIR XML is not read here; convert it to FHIR JSON"))
        return
    if not file.endswith(".ndjson"):
        try:
            yield "", orjson.loads(data)
            return
        except orjson.JSONDecodeError as e:
            if not _several_documents(e, data):
                unreadable.append(Unreadable(file, _json_problem(e)))
                return
    for n, line in enumerate(data.split(b"\n"), 1):   # NDJSON: a JSON document per line
        if line.strip():
            try:
                yield f"line {n}: ", orjson.loads(line)
            except orjson.JSONDecodeError as e:
                unreadable.append(Unreadable(file, f"line {n}: {_json_problem(e)}"
                                             + ("" if file.endswith(".ndjson") else
                                                " (the file holds several JSON documents: read as NDJSON, one per line)")))


def _several_documents(e: orjson.JSONDecodeError, data: bytes) -> bool:
    """Is the error that of a first JSON document followed by more, on lines of their own (NDJSON)?"""
    return "after document" in str(e) and b"\n" in data[:e.pos]


def _json_problem(e: orjson.JSONDecodeError) -> str:
    if "recursion" in str(e) or "depth" in str(e):
        return f"not read: nested deeper than the JSON reader's limit of 1024 levels ({e})"
    return f"not JSON: {e}"


def _unbundle(res: dict, file: str, where: str, unreadable: list[Unreadable]):
    """The resource, or the resources of a Bundle (nested Bundles too; without recursion: as deep as the
    JSON nests); an entry whose resource is no FHIR resource is said, its siblings read."""
    stack = [(res, where)]
    while stack:
        node, at = stack.pop()
        if node.get("resourceType") != "Bundle":
            yield node
            continue
        entries = node.get("entry") or []
        inner = []
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                if isinstance(e["resource"].get("resourceType"), str):
                    inner.append((e["resource"], f"{at}entry[{i}].resource."))
                else:
                    unreadable.append(Unreadable(file, f"{at}entry[{i}].resource is not a FHIR resource (no resourceType)"))
        stack += reversed(inner)
