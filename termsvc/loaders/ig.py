"""The HL7 Europe Imaging Report IG's own terminology, for both of its canonical bases.

`valuesets/` (shipped with termsvc: termsvc.content) holds the IG's ValueSets and CodeSystems once, as
FHIR R5 JSON for the R5 base `http://hl7.eu/fhir/imaging-r5`. The IG's R4 edition
(`http://hl7.eu/fhir/imaging`) has the same terminology under another base, so it
is generated here by rewriting the base in every URL and internal reference:
one source file per resource, no drift between the two editions.

Two source records: `hl7.fhir.eu.imaging-r5` and `hl7.fhir.eu.imaging`, 1.0.0-ballot.
"""
import copy
import os

from termsvc import content
from termsvc.loaders.fhir_json import content_sha256, iter_resources
from termsvc.loaders.protocol import BuildError

R5_BASE = "http://hl7.eu/fhir/imaging-r5"
R4_BASE = "http://hl7.eu/fhir/imaging"
VERSION = "1.0.0-ballot"
EDITIONS = [  # (package id, canonical base, FHIR version the edition is published for)
    ("hl7.fhir.eu.imaging-r5", R5_BASE, "R5"),
    ("hl7.fhir.eu.imaging", R4_BASE, "R4"),
]


def rebase(obj, old: str = R5_BASE, new: str = R4_BASE):
    """A deep copy of obj with every string that is `old` or starts with `old/` or `old|`
    rebased onto `new` (urls, compose systems, valueSet imports, supplements...)."""
    if isinstance(obj, dict):
        return {k: rebase(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rebase(v, old, new) for v in obj]
    if isinstance(obj, str) and (obj == old or obj.startswith((old + "/", old + "|"))):
        return new + obj[len(old):]
    return obj


def ig_resources(folder: str) -> list[dict]:
    if not os.path.isdir(folder):
        raise BuildError(f"{folder}: the IG terminology folder is missing")
    res = [r for r in iter_resources(folder) if r.get("resourceType") in ("CodeSystem", "ValueSet", "ConceptMap")]
    for r in res:
        url = r.get("url") or ""
        if not url.startswith(R5_BASE + "/"):
            raise BuildError(f"{folder}: {r.get('resourceType')}/{r.get('id')} has url {url!r},"
                             f" outside the R5 base {R5_BASE}")
    return res


def editions(folder: str) -> dict[str, list[dict]]:
    """package id -> the resources of that edition."""
    r5 = ig_resources(folder)
    return {pkg: (copy.deepcopy(r5) if base == R5_BASE else rebase(r5, R5_BASE, base))
            for pkg, base, _fv in EDITIONS}


def load(writer, location, progress, **_opts):
    if location is None:
        with content.folder(content.IG) as folder:
            return load(writer, folder, progress)
    folder = os.path.abspath(location)
    sha = content_sha256(folder) if os.path.isdir(folder) else None
    by_pkg = editions(folder)
    for pkg, base, fv in EDITIONS:
        sid = writer.add_source(pkg, "ig", VERSION, f"{folder} ({base})", sha)
        for r in by_pkg[pkg]:
            # R5 JSON either way; each edition is served by id on its own endpoint
            writer.add_resource(r, sid, fv, endpoint=fv)
        counts = writer.finish_source(sid, {"canonical": base})
        progress(f"  {pkg}#{VERSION}: CodeSystem {counts.get('CodeSystem', 0)},"
                 f" ValueSet {counts.get('ValueSet', 0)}, concepts {counts.get('concepts', 0)}")
