"""What a loader is to the build (termsvc/build.py): the `Loader` protocol, the typed state loaders
keep for the length of one build, and `BuildError`, the one error a loader raises for unusable input."""
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from termsvc.store.writer import BuildWriter

Progress = Callable[[str], None]


class BuildError(Exception):
    """A build input is unusable; the message names the file (and line) at fault."""


# The C0 control characters no loaded text holds: all but tab, and CR / LF (which end a release file's
# lines, and may break a FHIR string or a quoted CSV cell). Such a character marks a damaged file, as bytes
# that are not UTF-8 do: the file is refused naming the line (or element), never stored, served, or
# silently changed (a term with a character replaced is not the term its publisher wrote).
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_character(text: str) -> str | None:
    """'a control character (U+0007) at character 12' for the first in `text`, or None."""
    m = CONTROL_CHARACTER.search(text)
    return None if m is None else f"a control character (U+{ord(m.group()):04X}) at character {m.start() + 1}"


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
