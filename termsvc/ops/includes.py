"""What the operations look up in a compose's includes: their order when one system is included in
several versions, and the entry of a code in an include's concept list."""
from termsvc.ops.context import version_key
from termsvc.results import JSON


def in_version_order(includes: list[JSON]) -> list[JSON]:
    """The includes, those of one system in several versions latest declared version first (the
    order the reference server lists overloaded codes in)."""
    if len(includes) < 2:
        return includes
    first: dict[str | None, int] = {}
    for i, inc in enumerate(includes):
        first.setdefault(inc.get("system"), i)
    by_version = sorted(includes, key=lambda inc: version_key(inc.get("version")), reverse=True)
    return sorted(by_version, key=lambda inc: first[inc.get("system")])


_CREF_INDEX: dict[int, tuple[list[JSON], dict[str | None, JSON]]] = {}   # id(concept list) -> (it, {code: entry})


def concept_ref(crefs: list[JSON], code: str) -> JSON | None:
    """The first entry of an include's concept list with this code. Long lists (DICOM CIDs, large
    enumerated value sets) are indexed once; the index holds the list, so its id stays unique."""
    if len(crefs) < 16:
        return next((x for x in crefs if x.get("code") == code), None)
    hit = _CREF_INDEX.get(id(crefs))
    if hit is None or hit[0] is not crefs:
        index: dict[str | None, JSON] = {}
        for x in crefs:
            index.setdefault(x.get("code"), x)
        if len(_CREF_INDEX) > 2000:
            _CREF_INDEX.clear()
        hit = _CREF_INDEX[id(crefs)] = (crefs, index)
    return hit[1].get(code)
