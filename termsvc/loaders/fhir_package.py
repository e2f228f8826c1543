"""Load FHIR NPM packages: a .tgz, an unpacked folder, or NAME#VERSION from the package cache.

NAME#VERSION resolves to `~/.fhir/packages/NAME#VERSION/package/` (the standard
FHIR package cache shared with the IG publisher, SUSHI and the validator; setting
fhir_package_cache overrides the folder). A package missing from the cache is
fetched into it with `npm pack` (npm's configured registry), or over HTTPS from a
FHIR package registry named by setting fhir_package_registry (a base URL serving
NAME/-/NAME-VERSION.tgz, the npm layout).

Only the CodeSystem, ValueSet and ConceptMap files at the top of `package/` are
loaded (picked with `.index.json` when the package has one): the package's content,
including the specification's own example code systems (`example`, `example-metadata`...);
the examples of `package/example/` are skipped. Of its StructureDefinitions, those of base
resources and data types are kept as their elements' types and bindings (writer.add_structure_definition).
"""
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from typing import Any, NoReturn

import requests

from termsvc import settings
from termsvc.files import not_regular_reason, open_regular
from termsvc.loaders.fhir_json import TERMINOLOGY_TYPES, add_naming_system, add_resource, content_sha256, read_json
from termsvc.loaders.protocol import BuildError

_NAME_VERSION = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)#(?P<version>[A-Za-z0-9][A-Za-z0-9.+_-]*)$")
_PREFIXES = tuple(t + "-" for t in TERMINOLOGY_TYPES)


def cache_dir() -> str:
    return settings.current().fhir_package_cache


def parse_name_version(spec: str) -> tuple[str, str] | None:
    m = _NAME_VERSION.match(spec.strip())
    return (m["name"], m["version"]) if m else None


def cached_package_dir(name: str, version: str) -> str:
    return os.path.join(cache_dir(), f"{name}#{version}")


# -- fetching ------------------------------------------------------------------

MAX_LINK_HOPS = 8   # a link to a link to ... a file: deeper (or a loop) refuses the tarball


def _normalised(name: str, base: str = "") -> str | None:
    """`name` (relative to the folder `base` of the archive) as a plain relative path, or None when it
    is absolute or climbs out of the archive with `..`."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:/", name):
        return None
    parts = [p for p in base.split("/") if p]
    for part in name.split("/"):
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def max_package_bytes() -> int:
    """What one package may hold, as a tarball and unpacked (the setting max_package_bytes; the FHIR core and
    THO packages hold ~4,000 files, ~90 MB)."""
    return settings.current().max_package_bytes


def unpack(tgz_bytes: bytes, dest: str, origin: str) -> None:
    """Unpack a package tarball into the empty folder dest (which must end up holding
    package/package.json; a package whose files are at the root of the tarball gets them under package/).

    The files are written here, not by TarFile.extractall (whose safe `filter=` Python 3.11 has only from
    3.11.4 on): only folders and regular files, with modes 0755 and 0644 whatever the tarball says, a link
    written as a copy of the file it points to inside the tarball. An entry named by an absolute path or
    with `..`, a link pointing outside the tarball, any other kind of entry (device, fifo), and a tarball
    of more than max_package_entries entries or max_package_bytes unpacked (settings; a tar bomb: counted on
    the entries' headers, links as the copies they become, before anything is written) refuse the whole tarball with a
    BuildError naming the entry."""
    def refuse(member, why) -> NoReturn:
        raise BuildError(f"{origin}: refused: the tarball entry {member.name!r} {why}")

    most_entries, most_bytes = settings.current().max_package_entries, max_package_bytes()
    try:
        with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tf:
            members: list[tarfile.TarInfo] = []
            by_name: dict[str, tarfile.TarInfo] = {}
            for m in tf:   # (headers only: the data is skipped)
                name = _normalised(m.name)
                if name is None or ".." in m.name.replace("\\", "/").split("/"):
                    refuse(m, "is an absolute path or climbs out with '..'")
                if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                    refuse(m, "is neither a file, a folder nor a link")
                if len(members) >= most_entries:
                    refuse(m, f"is one more than the {most_entries} entries a package may have (setting"
                              " max_package_entries)")
                members.append(m)
                by_name[name] = m
            root = os.path.realpath(dest)
            sources = {m.name: _link_source(m, by_name, refuse) for m in members}
            total = sum(sources[m.name].size for m in members if sources[m.name].isfile())
            if total > most_bytes:
                raise BuildError(f"{origin}: refused: the tarball unpacks to {total / 1e6:.0f} MB, more than the"
                                 f" {most_bytes >> 20} MB a package may hold (a tar bomb? setting max_package_bytes)")
            for m in members:
                name = _normalised(m.name)
                if not name:   # the archive's root folder ("./")
                    continue
                source = sources[m.name]
                if name != "package" and not name.startswith("package/"):
                    name = "package/" + name
                path = os.path.join(root, *name.split("/"))
                if os.path.commonpath([root, os.path.realpath(path)]) != root:  # never: no links are written
                    refuse(m, "would be written outside the package folder")
                if source.isdir():
                    os.makedirs(path, mode=0o755, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                data = tf.extractfile(source)   # (a regular file: links are followed, folders made above)
                assert data is not None
                with data, open(path, "wb") as out:
                    shutil.copyfileobj(data, out)
                os.chmod(path, 0o644)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise BuildError(f"{origin}: not a readable package tarball: {e}") from e
    if not os.path.isfile(os.path.join(dest, "package", "package.json")):
        raise BuildError(f"{origin}: no package/package.json in the tarball")


def _link_source(m: tarfile.TarInfo, by_name: dict, refuse: Callable[[tarfile.TarInfo, str], NoReturn]
                 ) -> tarfile.TarInfo:
    """The entry a link stands for (following links to links, inside the tarball); the entry itself when it
    is no link."""
    source = m
    for _ in range(MAX_LINK_HOPS + 1):
        if not (source.issym() or source.islnk()):
            return source
        # a symbolic link is relative to its folder, a hard link to the root of the archive
        base = os.path.dirname(_normalised(source.name) or "") if source.issym() else ""  # (checked above)
        target = _normalised(source.linkname, base)
        if target is None:
            refuse(m, f"links to {source.linkname!r}, outside the package")
        if target not in by_name:
            refuse(m, f"links to {target!r}, which the tarball does not hold")
        source = by_name[target]
    refuse(m, f"is a chain of more than {MAX_LINK_HOPS} links")


def registry_download(name: str, version: str) -> bytes:
    registry = settings.current().fhir_package_registry
    if not registry:
        raise BuildError(f"{name}#{version}: no FHIR package registry set (setting fhir_package_registry)")
    url = f"{registry.rstrip('/')}/{name}/-/{name}-{version}.tgz"
    with requests.get(url, timeout=(15, 300), stream=True) as r:
        if r.status_code != 200:
            raise BuildError(f"{name}#{version}: {url} answered HTTP {r.status_code}")
        data = bytearray()
        most = max_package_bytes()
        for chunk in r.iter_content(1 << 20):   # (an endless or a huge body is refused, not held)
            data += chunk
            if len(data) > most:
                raise BuildError(f"{name}#{version}: {url} sends more than {most >> 20} MB (setting max_package_bytes)")
        return bytes(data)


def npm_pack(name: str, version: str) -> bytes:
    npm = shutil.which("npm")
    if not npm:
        raise BuildError(f"{name}#{version}: npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([npm, "pack", f"{name}@{version}", "--silent"], cwd=tmp,
                           capture_output=True, text=True, timeout=600)
        tgzs = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        if p.returncode != 0 or not tgzs:
            raise BuildError(f"{name}#{version}: npm pack failed: {(p.stderr or p.stdout).strip()[:300]}")
        tgz = os.path.join(tmp, tgzs[0])
        if os.path.getsize(tgz) > max_package_bytes():
            raise BuildError(f"{name}#{version}: npm pack gave a package of more than {max_package_bytes() >> 20} MB")
        with open(tgz, "rb") as f:
            return f.read()


def fetch(name_version: str, progress=None) -> str:
    """Make NAME#VERSION present in the package cache; returns its folder (holding package/)."""
    nv = parse_name_version(name_version)
    if not nv:
        raise BuildError(f"{name_version}: not a NAME#VERSION package reference")
    name, version = nv
    target = cached_package_dir(name, version)
    if os.path.isfile(os.path.join(target, "package", "package.json")):
        return target
    errors = []
    data = None
    for how, fn in (("npm pack", npm_pack), ("fhir_package_registry", registry_download)):
        try:
            if progress:
                progress(f"  fetching {name}#{version} ({how})")
            data = fn(name, version)
            break
        except BuildError as e:
            errors.append(str(e))
        except Exception as e:  # network errors, timeouts
            errors.append(f"{name}#{version}: {how}: {e}")
    if data is None:
        raise BuildError(f"cannot fetch {name}#{version}: " + "; ".join(errors))
    os.makedirs(cache_dir(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}#{version}.", dir=cache_dir())
    try:
        unpack(data, tmp, f"{name}#{version}")
        with open(os.path.join(tmp, "package", ".termsvc-tgz-sha256"), "w") as f:
            f.write(hashlib.sha256(data).hexdigest())
        if os.path.isdir(target):  # an incomplete earlier attempt
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# -- reading -------------------------------------------------------------------

class Package:
    """An opened package: its package.json, its package/ folder and a sha256."""

    def __init__(self, manifest: dict, folder: str, sha256: str, location: str, tmp=None):
        self.manifest = manifest
        self.folder = folder
        self.sha256 = sha256
        self.location = location
        self._tmp = tmp

    @property
    def name(self):
        return self.manifest.get("name")

    @property
    def version(self):
        return self.manifest.get("version")

    @property
    def fhir_version(self) -> str:
        versions = self.manifest.get("fhirVersions") or self.manifest.get("fhir-version-list") or []
        if isinstance(versions, str):
            versions = [versions]
        return "R4" if versions and all(str(v).startswith("4.") for v in versions) else "R5"

    def label(self, path: str) -> str:
        """A file of the package as the user knows it: in the tarball given (`x.tgz!package/CodeSystem-a.json`),
        or its path."""
        if self._tmp is None:
            return path
        return f"{self.location}!package/{os.path.relpath(path, self.folder).replace(os.sep, '/')}"

    def close(self):
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_package(location: str, progress=None) -> Package:
    """A .tgz, a folder holding package/package.json (or package.json itself), or NAME#VERSION."""
    path = os.path.abspath(os.path.expanduser(location))
    if os.path.isfile(path):
        if os.path.getsize(path) > max_package_bytes():
            raise BuildError(f"{location}: larger than the {max_package_bytes() >> 20} MB a package may hold")
        with open_regular(path) as f:
            data = f.read(max_package_bytes() + 1)
        tmp = tempfile.TemporaryDirectory(prefix="termsvc-pkg-")
        try:
            unpack(data, tmp.name, location)
            folder = os.path.join(tmp.name, "package")
            manifest = _manifest(folder, location, f"{location}!package/package.json")
        except BaseException:
            tmp.cleanup()
            raise
        return Package(manifest, folder, hashlib.sha256(data).hexdigest(), path, tmp)
    if os.path.isdir(path):
        folder = os.path.join(path, "package") if os.path.isfile(os.path.join(path, "package", "package.json")) else path
        manifest = _manifest(folder, location, os.path.join(folder, "package.json"))
        stamp = os.path.join(folder, ".termsvc-tgz-sha256")
        if os.path.isfile(stamp):  # fetched by us: the sha256 of the tarball it came from
            with open(stamp) as f:
                sha = f.read().strip()
        else:
            sha = content_sha256(os.path.join(folder, "package.json"))
        return Package(manifest, folder, sha, path)
    if parse_name_version(location):
        return open_package(fetch(location, progress), progress)
    why = not_regular_reason(path)
    raise BuildError(f"{location}: " + (why if why else "not a package file, package folder or NAME#VERSION"))


def _manifest(folder: str, origin: str, label: str) -> dict:
    """package.json: an object naming the package and its version (strings), its FHIR versions a list of them."""
    pj = os.path.join(folder, "package.json")
    if not os.path.isfile(pj):
        raise BuildError(f"{origin}: no package/package.json")
    m = read_json(pj, label)
    if not isinstance(m, dict):
        raise BuildError(f"{label}: not a JSON object")
    for key in ("name", "version"):
        if not isinstance(m.get(key), str) or not m[key].strip():
            raise BuildError(f"{label}: no {key} (a package.json names the package and its version)")
    for key in ("fhirVersions", "fhir-version-list"):
        versions = m.get(key)
        if versions is not None and not isinstance(versions, str) and not (
                isinstance(versions, list) and all(isinstance(v, str) for v in versions)):
            raise BuildError(f"{label}: {key} is not a list of FHIR versions")
    return m


def terminology_files(folder: str) -> list[str]:
    """The files of package/ holding CodeSystem/ValueSet/ConceptMap resources (by .index.json
    when present; otherwise every top-level *.json file, checked when read)."""
    index = os.path.join(folder, ".index.json")
    if os.path.isfile(index):
        try:
            idx: Any = read_json(index)   # (its shape is not checked: a broken one fails below)
            files = [e["filename"] for e in idx.get("files", [])
                     if e.get("resourceType") in TERMINOLOGY_TYPES and e.get("filename")]
            return [os.path.join(folder, f) for f in sorted(set(files))
                    if os.path.isfile(os.path.join(folder, f))]
        except (BuildError, AttributeError, KeyError, TypeError):
            pass  # a broken index: fall back to reading the files
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
            if f.endswith(".json") and not f.startswith(".") and f != "package.json"
            and not os.path.isdir(os.path.join(folder, f))]   # (a fifo too: refused when read, never skipped)


def iter_package_resources(pkg: Package):
    """(filename, resource) for the CodeSystems, ValueSets and ConceptMaps at the top of package/. A file
    named for one of them (CodeSystem-x.json) that holds no resource at all is a BuildError."""
    for path in terminology_files(pkg.folder):
        fn = os.path.basename(path)
        named = fn.startswith(_PREFIXES)
        if not named:
            # cheap pre-check: a file whose name does not say its type must say it in the JSON
            try:
                with open_regular(path) as f:
                    head = f.read(4096)
            except OSError as e:
                raise BuildError(f"{pkg.label(path)}: {e.strerror or e}") from None
            if not any(f'"{t}"'.encode() in head for t in TERMINOLOGY_TYPES):
                continue
        res = read_json(path, pkg.label(path))
        if named and not (isinstance(res, dict) and isinstance(res.get("resourceType"), str)):
            raise BuildError(f"{pkg.label(path)}: not a FHIR resource (" + (
                "no resourceType)" if isinstance(res, dict) else f"a JSON {type(res).__name__}, not an object)"))
        if not isinstance(res, dict) or res.get("resourceType") not in TERMINOLOGY_TYPES:
            continue
        yield fn, res


def iter_resources_of(pkg: Package, resource_type: str):
    """(label, resource) of the resources of a type at the top of package/, by their files' names (TYPE-*.json).
    The build keeps the StructureDefinitions of base resources and data types (the elements and bindings
    `termsvc check-resource` walks) and the NamingSystems of code systems (their OIDs and URIs)."""
    for fn in sorted(os.listdir(pkg.folder)):
        if fn.startswith(f"{resource_type}-") and fn.endswith(".json"):
            path = os.path.join(pkg.folder, fn)
            res = read_json(path, pkg.label(path))
            if isinstance(res, dict) and res.get("resourceType") == resource_type:
                yield pkg.label(path), res


def load(writer, location, progress, **_opts):
    if not location:
        raise BuildError("package: no package given")
    with open_package(location, progress) as pkg:
        fv = pkg.fhir_version
        sid = writer.add_source(pkg.name, "fhir-package", pkg.version, pkg.location, pkg.sha256)
        for fn, res in iter_package_resources(pkg):
            add_resource(writer, res, sid, fv, pkg.label(os.path.join(pkg.folder, fn)))
        for label, sd in iter_resources_of(pkg, "StructureDefinition"):
            try:
                writer.add_structure_definition(sd, sid, fv)
            except (TypeError, ValueError, AttributeError, KeyError) as e:
                raise BuildError(f"{label}: StructureDefinition {sd.get('url')}: cannot be read:"
                                 f" {type(e).__name__}: {e}") from None
        for label, ns in iter_resources_of(pkg, "NamingSystem"):
            add_naming_system(writer, ns, sid, fv, label)
        counts = writer.finish_source(sid, {"fhir_version": fv})
    progress(f"  {pkg.name}#{pkg.version}: " + ", ".join(
        f"{k} {v}" for k, v in sorted(counts.items()) if k != "fhir_version"))
    return counts
