"""A stored code system small enough is held in memory for its build (ops/codesystems.py): it answers
every question as the store's indexed queries do, and after its first reading asks the store nothing
for what it holds."""
import pytest

from termsvc.ops.codesystems import StoredCodeSystem
from termsvc.ops.context import Context
from termsvc.store.reader import Store

SYSTEMS = ("http://dicom.nema.org/resources/ontology/DCM",             # flat, 4,700 codes
           "http://terminology.hl7.org/CodeSystem/v3-ActCode",         # a deep hierarchy
           "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation")


@pytest.fixture(scope="module")
def store(db_path):
    return Store(db_path)


def providers(store, url):
    """The same code system twice: held in memory, and read from the store each time."""
    held = Context(store).code_system(url)
    assert isinstance(held, StoredCodeSystem) and held.count <= StoredCodeSystem.HELD
    row = (held.cs_id, held.url, held.version, held.content, held.case_sensitive, held.hierarchy_meaning, None,
           held.language, held.count)
    queried = StoredCodeSystem(store, row, held.resource)
    queried.HELD = 0   # too large to hold: every answer an indexed query
    return held, queried


def flat(c):
    return (c.code, c.display, c.definition, c.status, c.inactive, c.abstract, c.cid)


@pytest.mark.parametrize("url", SYSTEMS)
def test_a_held_code_system_answers_as_the_store_does(store, url):
    held, queried = providers(store, url)
    everything = list(queried.iter_all())
    assert [flat(c) for c in held.iter_all()] == [flat(c) for c in everything]
    for c in everything[::7]:
        mine = held.locate(c.code)
        assert flat(mine) == flat(c)
        assert held.parent_codes(mine) == queried.parent_codes(c)
        assert [flat(x) for x in held.children(mine)] == [flat(x) for x in queried.children(c)]
        assert [flat(x) for x in held.descendants(c.code)] == [flat(x) for x in queried.descendants(c.code)]
        for other in [*queried.parent_codes(c), everything[0].code, everything[-1].code, "no-such-code"]:
            assert held.is_ancestor(other, c.code) == queried.is_ancestor(other, c.code)
            assert held.is_ancestor(c.code, other) == queried.is_ancestor(c.code, other)
        assert held.designations(mine) == queried.designations(c)
        assert held.properties(mine) == queried.properties(c)
        other_case = c.code.swapcase()
        expected = queried.locate_nocase(other_case)
        found = held.locate_nocase(other_case)
        assert (flat(found) == flat(expected)) if expected is not None else found is None
    assert held.locate("no-such-code") is None and queried.locate("no-such-code") is None


def test_a_held_code_system_reads_the_store_once(store):
    held, _ = providers(store, SYSTEMS[1])
    some = [c.code for c in held.iter_all()][:50]
    below: dict[str, list[str]] = {}
    for code in some:           # the first time: what each concept is asked for is read
        held.parent_codes(held.locate(code))
        held.children(held.locate(code))
        below[code] = [x.code for x in held.descendants(code)]
        held.descendants(code).clear()   # a caller's changes to the list it got are its own
    statements = []
    store.conn().set_trace_callback(statements.append)
    try:
        for code in some:
            c = held.locate(code)
            held.parent_codes(c)
            held.children(c)
            assert [x.code for x in held.descendants(code)] == below[code]
        assert len(list(held.iter_all())) == held.count
    finally:
        store.conn().set_trace_callback(None)
    assert statements == [] and any(below.values())
    # its copy with supplements holds the same concepts
    assert held.with_supplements([]).locate(some[0]) is held.locate(some[0])


def test_a_code_system_larger_than_held_is_read_by_queries(store):
    _, queried = providers(store, SYSTEMS[0])
    statements = []
    store.conn().set_trace_callback(statements.append)
    try:
        assert queried.locate("CT").code == "CT"
        assert queried.locate("CT") is not queried.locate("CT")   # made anew from its row each time
    finally:
        store.conn().set_trace_callback(None)
    assert len(statements) == 3
