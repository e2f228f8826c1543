"""What a loader is to the build (termsvc/build.py): the `Loader` protocol, the typed state loaders
keep for the length of one build, and `BuildError`, the one error a loader raises for unusable input."""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from termsvc.store.writer import BuildWriter

Progress = Callable[[str], None]


class BuildError(Exception):
    """A build input is unusable; the message names the file (and line) at fault."""


@dataclass
class MappingTablesToJudge:
    """The mapping-table folders loaded so far, judged together once every source is loaded."""
    folders: list[str] = field(default_factory=list)
    include_unaccepted: bool = False
    allow_errors: bool = False
    strict_displays: bool = False


@dataclass
class BuildState:
    """What loaders keep for the length of one build."""
    # the SNOMED CT packages (loaders.snomed.Package) loaded so far, in order: an extension builds on the
    # edition before it
    snomed_packages: list[Any] = field(default_factory=list)
    mapping_tables: MappingTablesToJudge | None = None
    # warnings the build reports beside its summary (`termsvc build` prints them)
    notes: list[str] = field(default_factory=list)


class Loader(Protocol):
    """A source kind: `load` records its source (`writer.add_source` ... `writer.finish_source`) and adds
    content through the writer; it raises BuildError for unusable input."""

    def load(self, writer: BuildWriter, location: str | None, progress: Progress, *, state: BuildState,
             **options: Any) -> None: ...


@runtime_checkable
class FinishingLoader(Loader, Protocol):
    """A loader with a step run once every source is loaded (and pre-expanded)."""

    def finish(self, writer: BuildWriter, progress: Progress, state: BuildState) -> None: ...
