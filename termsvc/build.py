"""A build: every source loaded into a new database file, pre-expanded, swapped in.

Each loader is `load(writer, location, progress, **options)`: it records its source
(`writer.add_source` ... `writer.finish_source`) and adds content; it raises
BuildError for unusable input. A failed build leaves the served file untouched.
"""
import importlib
import os
import sys
import time
from dataclasses import dataclass, field

from termsvc.store.writer import BuildError, BuildWriter

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DB = os.path.join(PROJECT_DIR, "data", "termsvc.db")

DEFAULT_PACKAGES = ["hl7.fhir.r5.core#5.0.0", "hl7.terminology.r5#7.0.1", "hl7.fhir.uv.ips#2.0.0"]

# source kind -> module with a load(writer, location, progress) function
LOADERS = {
    "ig": "termsvc.loaders.ig",
    "package": "termsvc.loaders.fhir_package",
    "fhir": "termsvc.loaders.fhir_json",
    "dicom": "termsvc.loaders.dicom",
    "mappings": "termsvc.loaders.mapping_table",
    "snomed": "termsvc.loaders.snomed",
    "loinc": "termsvc.loaders.loinc",
}


@dataclass
class SourceSpec:
    kind: str
    location: str | None = None
    options: dict = field(default_factory=dict)  # passed to the loader as keyword arguments


def default_db_path() -> str:
    return os.environ.get("TERMSVC_DB") or DEFAULT_DB


DEFAULT_MAPPINGS_DIR = os.path.join(PROJECT_DIR, "mappings_csv")


def loader_available(kind: str) -> bool:
    """True when the loader module of `kind` exists and imports."""
    try:
        importlib.import_module(LOADERS[kind])
        return True
    except ImportError:
        return False


def _accepted_options(module_name: str, options: dict) -> dict:
    """The options a loader's load() accepts (all of them when it takes **kwargs)."""
    import inspect
    params = inspect.signature(importlib.import_module(module_name).load).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


def default_sources(include_unaccepted_mappings: bool = False) -> list[SourceSpec]:
    """The content a plain `termsvc build` loads: the IG, FHIR core + THO + IPS, DICOM,
    and the project's mapping tables (when the mapping-table loader is installed)."""
    sources = [SourceSpec("ig")]
    sources += [SourceSpec("package", p) for p in DEFAULT_PACKAGES]
    sources.append(SourceSpec("dicom"))
    if os.path.isdir(DEFAULT_MAPPINGS_DIR) and loader_available("mappings"):
        opts = {}
        if include_unaccepted_mappings:
            opts = _accepted_options(LOADERS["mappings"], {"include_unaccepted": True})
        sources.append(SourceSpec("mappings", DEFAULT_MAPPINGS_DIR, opts))
    return sources


class Progress:
    """Prints what the build is doing, one line per step, with elapsed time."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.t0 = time.monotonic()

    def __call__(self, message: str):
        if not self.quiet:
            self.stream.write(f"[{time.monotonic() - self.t0:6.1f}s] {message}\n")
            self.stream.flush()


def run_loader(writer: BuildWriter, spec: SourceSpec, progress: Progress):
    if spec.kind not in LOADERS:
        raise BuildError(f"unknown source kind {spec.kind!r} (known: {', '.join(sorted(LOADERS))})")
    try:
        module = importlib.import_module(LOADERS[spec.kind])
    except ImportError as e:
        raise BuildError(f"the {spec.kind} loader is not available ({LOADERS[spec.kind]}): {e}") from e
    module.load(writer, spec.location, progress, **spec.options)


def build(db_path: str, sources: list[SourceSpec], progress: Progress | None = None,
          keep_going: bool = False, preexpand: bool = True) -> dict:
    """Load `sources` into a new build and swap it in at `db_path`. Returns a summary."""
    progress = progress or Progress()
    failures = []
    t_start = time.monotonic()
    writer = BuildWriter(db_path)
    try:
        for spec in sources:
            progress(f"loading {spec.kind} {spec.location or ''}".rstrip())
            if keep_going:
                writer.conn.execute("SAVEPOINT source")
                try:
                    run_loader(writer, spec, progress)
                    writer.conn.execute("RELEASE source")
                except BuildError as e:
                    writer.conn.execute("ROLLBACK TO source")
                    writer.conn.execute("RELEASE source")
                    failures.append(f"{spec.kind} {spec.location}: {e}")
                    progress(f"  skipped (--keep-going): {e}")
            else:
                run_loader(writer, spec, progress)
        progress("computing is-a closure and the text index")
        writer.finalize()
        if preexpand:
            from termsvc.ops.preexpand import preexpand_all
            progress("pre-expanding value sets")
            preexpand_all(writer, progress)
        writer.set_meta("build_seconds", f"{time.monotonic() - t_start:.1f}")
        summary = {
            "code_systems": writer.conn.execute("SELECT count(*) FROM code_system").fetchone()[0],
            "value_sets": writer.conn.execute("SELECT count(*) FROM value_set").fetchone()[0],
            "concept_maps": writer.conn.execute("SELECT count(*) FROM concept_map").fetchone()[0],
            "concepts": writer.conn.execute("SELECT count(*) FROM concept").fetchone()[0],
            "failures": failures,
        }
        writer.commit_and_swap()
    except BaseException:
        writer.abort()
        raise
    summary["size_bytes"] = os.path.getsize(db_path)
    progress(f"build swapped in: {db_path} ({summary['size_bytes'] / 1e6:.1f} MB)")
    return summary


__all__ = ["BuildError", "SourceSpec", "Progress", "build", "default_db_path", "default_sources",
           "DEFAULT_PACKAGES", "LOADERS"]
