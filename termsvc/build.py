"""A build: every source loaded into a new database file, pre-expanded, swapped in.

Each loader is a `Loader` (termsvc/loaders/protocol.py): `load(writer, location, progress, state=,
**options)` records its source and adds content through the writer, keeping what later sources
need in the build's typed `BuildState`; it raises BuildError for unusable input. A `FinishingLoader`
also has `finish(writer, progress, state)`, run once every source is loaded (and pre-expanded): the
mapping tables are judged there, against all the content of the build. A failed build leaves the
served file untouched.
"""
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from termsvc.loaders import dicom, fhir_json, fhir_package, ig, loinc, mapping_table, snomed
from termsvc.ops.preexpand import preexpand_all
from termsvc.loaders.protocol import BuildError, BuildState, FinishingLoader, Loader, Progress as ProgressFn
from termsvc.store.writer import BuildWriter

__all__ = ["BuildError", "BuildState", "Progress", "SourceSpec", "build", "configured_sources", "default_sources",
           "mapping_sources", "release_sources", "LOADERS"]

DEFAULT_PACKAGES = ["hl7.fhir.r5.core#5.0.0", "hl7.terminology.r5#7.0.1", "hl7.fhir.uv.ips#2.0.0"]

# source kind -> loader module (a Loader; mapping_table a FinishingLoader)
LOADERS: dict[str, Loader] = {
    "ig": ig,
    "package": fhir_package,
    "fhir": fhir_json,
    "dicom": dicom,
    "mappings": mapping_table,
    "snomed": snomed,
    "loinc": loinc,
}


@dataclass
class SourceSpec:
    kind: str
    location: str | None = None   # None: the loader's default (the content shipped with termsvc)
    options: dict = field(default_factory=dict)  # passed to the loader as keyword arguments


def default_sources(include_unaccepted_mappings: bool = False, mapping_folders=(), default_mappings: bool = True,
                    allow_mapping_errors: bool = False, strict_displays: bool = False) -> list[SourceSpec]:
    """The content a plain `termsvc build` loads: the IG, FHIR core + THO + IPS, DICOM and the
    mapping tables (see mapping_sources)."""
    sources = [SourceSpec("ig")]
    sources += [SourceSpec("package", p) for p in DEFAULT_PACKAGES]
    sources.append(SourceSpec("dicom"))
    return sources + mapping_sources(mapping_folders, default_mappings, include_unaccepted_mappings,
                                     allow_mapping_errors, strict_displays)


def mapping_sources(folders=(), default: bool = True, include_unaccepted: bool = False,
                    allow_errors: bool = False, strict_displays: bool = False) -> list[SourceSpec]:
    """The mapping tables shipped with termsvc (unless not `default`) and those of `folders`.
    `include_unaccepted`: serve rows of any status; `allow_errors`: build even when rows have errors,
    leaving those rows out of what $translate serves; `strict_displays`: a display $validate-code only
    warns about is an error."""
    options = {"include_unaccepted": include_unaccepted, "allow_errors": allow_errors,
               "strict_displays": strict_displays}
    return [SourceSpec("mappings", folder, options) for folder in ([None] if default else []) + list(folders)]


def configured_sources(settings) -> list[SourceSpec]:
    """What `termsvc build` without arguments loads: the default content with the mapping tables of the
    settings `mappings` and `default_mappings`, and the SNOMED CT / LOINC releases of the settings."""
    return (default_sources(mapping_folders=settings.mappings, default_mappings=settings.default_mappings,
                            strict_displays=settings.strict_displays)
            + release_sources(settings.snomed, settings.loinc))


def release_sources(snomed_paths, loinc_path) -> list[SourceSpec]:
    """SNOMED CT releases (edition first, then extensions) and a LOINC release."""
    sources = [SourceSpec("snomed", p) for p in snomed_paths]
    if loinc_path:
        sources.append(SourceSpec("loinc", loinc_path))
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


# what a loader may raise on input it did not foresee: said as a BuildError naming the source, never a traceback
UNFORESEEN = (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError, sqlite3.IntegrityError)


LOOPS = "a concept hierarchy loops (a concept its own ancestor): "


def run_loader(writer: BuildWriter, progress: ProgressFn, spec: SourceSpec, state: BuildState) -> None:
    if spec.kind not in LOADERS:
        raise BuildError(f"unknown source kind {spec.kind!r} (known: {', '.join(sorted(LOADERS))})")
    try:
        LOADERS[spec.kind].load(writer, spec.location, progress, state=state, **spec.options)
    except UNFORESEEN as e:
        raise BuildError(f"{spec.kind} {spec.location or '(default)'}: cannot be loaded: {type(e).__name__}: {e}") from e
    loops = writer.hierarchy_loops()   # the source's own fault: --keep-going leaves it out
    if loops:
        raise BuildError(LOOPS + "; ".join(loops))


def run_step(writer: BuildWriter, step: Callable[[BuildWriter, ProgressFn], None], label: str, progress: ProgressFn,
             failures: list[str] | None) -> None:
    """A loader or a loader's finish step; with `failures` (--keep-going) one that fails is undone and noted."""
    if failures is None:
        step(writer, progress)
        return
    try:
        with writer.savepoint():
            step(writer, progress)
    except BuildError as e:
        failures.append(f"{label}: {e}")
        progress(f"  skipped (--keep-going): {e}")


def build(db_path: str, sources: list[SourceSpec], progress: Progress | None = None,
          keep_going: bool = False, preexpand: bool = True) -> dict:
    """Load `sources` into a new build and swap it in at `db_path`. Returns a summary."""
    progress = progress or Progress()
    failures: list[str] | None = [] if keep_going else None
    t_start = time.monotonic()
    state = BuildState()
    writer = BuildWriter(db_path, undoable=keep_going)
    try:
        for spec in sources:
            progress(f"loading {spec.kind} {spec.location or ''}".rstrip())
            run_step(writer, partial(run_loader, spec=spec, state=state), f"{spec.kind} {spec.location}", progress,
                     failures)
        progress("computing is-a closure and the text index")
        loops = writer.finalize()
        if loops:
            raise BuildError(LOOPS + "; ".join(loops))
        if preexpand:
            progress("pre-expanding value sets")
            preexpand_all(writer, progress)
        for kind, loader in LOADERS.items():   # the steps that need every source loaded
            if isinstance(loader, FinishingLoader):
                run_step(writer, partial(loader.finish, state=state), kind, progress, failures)
        writer.set_meta("build_seconds", f"{time.monotonic() - t_start:.1f}")
        summary: dict[str, Any] = {**writer.reader().totals(), "failures": failures or [], "notes": state.notes}
        writer.commit_and_swap()
    except BaseException:
        writer.abort()
        raise
    summary["size_bytes"] = os.path.getsize(db_path)
    progress(f"build swapped in: {db_path} ({summary['size_bytes'] / 1e6:.1f} MB)")
    return summary
