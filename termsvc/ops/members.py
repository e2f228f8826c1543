"""A value set's members: the Member type, and the lists of them the Composer (ops/compose.py) makes."""
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from termsvc import deadline
from termsvc.fhir.codesystem import FlatConcept
from termsvc.ops.codesystems import Concept, StoredCodeSystem
from termsvc.ops.context import Provider
from termsvc.results import JSON, Entry

MemberKey = tuple[str | None, ...]   # (system, code), or (system, version, code) when versions are kept apart


@dataclass(slots=True)
class Member:
    """One concept of a value set, as the value set presents it; never changed once made (a stored concept's
    member is shared by the requests of a build), but for the entry it keeps (see ops.expand.Entries)."""
    system: str
    version: str | None
    code: str
    display: str | None = None
    concept: FlatConcept | None = None
    cs: Provider | None = None
    designations: list[JSON] | None = None   # the value set's own (compose) designations
    extensions: list[JSON] | None = None     # the value set's own (compose) concept extensions
    inactive: bool = False             # the concept's, when it has one (given: no __post_init__ per member)
    abstract: bool = False
    entry: Entry | None = None       # its plain entry in an expansion, once made (never changed)


def members_as_they_are(system: str, cs: Provider, concepts: Iterable[FlatConcept]) -> list[Member]:
    """The members of concepts of cs that the value set takes as they are: a stored concept keeps its member
    for the build (a Member is never changed)."""
    version = cs.version
    if not isinstance(cs, StoredCodeSystem) or cs.supplements:
        return [Member(system, version, c.code, c.display, c, cs, None, None, c.inactive, c.abstract) for c in concepts]
    out = []
    for c in cast(Iterable[Concept], concepts):
        m = c.member
        if m is None or m.cs is not cs or m.system != system:
            m = c.member = Member(system, version, c.code, c.display, c, cs, None, None, c.inactive, c.abstract)
        out.append(m)
    return out


def first_of_each_code(members: list[Member]) -> list[Member]:
    """The members without a code seen before (most lists have none)."""
    if len({m.code for m in members}) == len(members):
        return members
    first: dict[str, Member] = {}
    for m in members:
        first.setdefault(m.code, m)
    return list(first.values())


def in_chunks(items: list[Member], size: int = 1024) -> Iterator[list[Member]]:
    """The items in slices, the deadline checked before each."""
    for start in range(0, len(items), size):
        deadline.check()
        yield items[start:start + size]


def enumerated_member(system: str, cs: Provider, concept: FlatConcept, cref: JSON) -> Member:
    """A concept listed by the value set: its display, designations and extensions win."""
    return Member(system, cs.version, concept.code, cref.get("display") or concept.display, concept, cs,
                  designations=cref.get("designation") or None, extensions=cref.get("extension") or None,
                  inactive=concept.inactive, abstract=concept.abstract)
