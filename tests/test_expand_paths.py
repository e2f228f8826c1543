"""The ways an expansion is made give the same answer: a page read from the pre-expansion's rows (with or
without designations or properties asked for) and one made from the concept tables; a stored value set's composition kept for the build
serves each activeOnly and size limit as if made for the request; a text filter finds the texts a value
set gives its members; the expansion's identifier and timestamp; what a held concept keeps for the build."""
import datetime
import re
import uuid

import pytest

from conftest import store_of
from termsvc.fhir.outcome import TooManyCodes
from termsvc.fhir.params import Params
from termsvc.ops import sqlpath
from termsvc.ops.context import Context
from termsvc.ops.expand import expand, new_identifier, timestamp_now

CS = "http://example.org/fhir/CodeSystem/paths"
VS = "http://example.org/fhir/ValueSet/paths-"
STATUS = "http://hl7.org/fhir/concept-properties#status"

RESOURCES = [
    {"resourceType": "CodeSystem", "url": CS, "version": "1", "status": "active", "content": "complete",
     "hierarchyMeaning": "is-a",
     "property": [{"code": "status", "uri": STATUS, "type": "code"}],
     "concept": [{"code": "chest", "display": "Chest", "designation": [{"language": "de", "value": "Brustkorb"}],
                  "concept": [{"code": "lung", "display": "Lung"}, {"code": "heart", "display": "Heart"}]},
                 {"code": "abdomen", "display": "Abdomen"},
                 {"code": "spleen", "display": "Spleen", "property": [{"code": "status", "valueCode": "retired"}]},
                 {"code": "liver", "display": "Liver"}]},
    {"resourceType": "ValueSet", "url": VS + "all", "version": "1", "status": "active",
     "compose": {"include": [{"system": CS}]}},
    {"resourceType": "ValueSet", "url": VS + "enum", "version": "1", "status": "active",
     "compose": {"include": [{"system": CS, "concept": [{"code": "lung", "display": "Left or right lung"},
                                                        {"code": "spleen"}]}]}},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return store_of(tmp_path_factory.mktemp("paths"), RESOURCES)


def run(store, *pairs, max_size=None):
    return expand(Context(store), Params.from_query(list(pairs)), max_size=max_size)


def same_answer(a, b):
    """Two expansions equal but for their identifier and timestamp."""
    a.identifier = b.identifier
    a.timestamp = b.timestamp
    return a == b


@pytest.mark.parametrize("asked", [(), (("includeDesignations", "true"),), (("property", "status"),),
                                   (("displayLanguage", "de"),), (("activeOnly", "true"),)])
def test_a_page_from_the_pre_expansion_says_what_the_concept_tables_say(store, monkeypatch, asked):
    pairs = (("url", VS + "all"), ("count", "4"), ("offset", "1"), *asked)
    composed = run(store, *pairs)              # small: made from the concept tables
    monkeypatch.setattr(sqlpath, "FAST_PATH_MIN", 0)
    from_rows = run(store, *pairs)             # read from the pre-expansion's rows
    assert same_answer(from_rows, composed)
    assert from_rows.contains and from_rows.total == composed.total


def test_the_status_of_a_concept_that_is_not_active_is_a_property_of_its_entry(store, monkeypatch):
    monkeypatch.setattr(sqlpath, "FAST_PATH_MIN", 0)
    page = run(store, ("url", VS + "all"), ("count", "10"))
    spleen = next(e for e in page.contains if e.code == "spleen")
    assert [(p.code, p.key, p.value) for p in spleen.properties] == [("status", "valueCode", "retired")]
    assert page.property_defs == [{"code": "status", "uri": STATUS}]
    assert all(e.properties is None for e in page.contains if e.code != "spleen")


def test_a_kept_composition_answers_each_active_only_and_size_limit_as_its_own(store):
    codes = lambda vs: sorted(e.code for e in vs.codes())   # noqa: E731
    everything = ["abdomen", "chest", "heart", "liver", "lung", "spleen"]
    for _ in range(2):   # the second round from what the first kept
        assert codes(run(store, ("url", VS + "all"))) == everything
        assert "spleen" not in codes(run(store, ("url", VS + "all"), ("activeOnly", "true")))
        with pytest.raises(TooManyCodes):
            run(store, ("url", VS + "all"), max_size=3)
        assert codes(run(store, ("url", VS + "all"), max_size=6)) == everything


def test_a_text_filter_finds_the_display_the_value_set_gives_a_member(store):
    found = run(store, ("url", VS + "enum"), ("filter", "left"))
    assert [(e.code, e.display) for e in found.contains] == [("lung", "Left or right lung")]
    assert [e.code for e in run(store, ("url", VS + "all"), ("filter", "brust")).contains] == ["chest"]
    assert run(store, ("url", VS + "all"), ("filter", "left")).total == 0   # another value set's text


def test_the_identifier_is_a_new_version_4_uuid_and_the_timestamp_now():
    made = {new_identifier() for _ in range(200)}
    assert len(made) == 200
    for identifier in made:
        assert identifier.startswith("urn:uuid:")
        u = uuid.UUID(identifier[len("urn:uuid:"):])
        assert u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == identifier[len("urn:uuid:"):]
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    stamp = timestamp_now()
    after = datetime.datetime.now(datetime.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert before <= datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")) <= after


def test_what_a_held_concept_keeps_for_the_build_no_request_changes(store):
    """A held concept's member and plain entry are made once per build and shared by the requests: one
    that nests codes under a concept gives it an entry of its own, so the concept's shared one never
    gains another request's codes."""
    def under(code, *more):
        is_a = {"property": "concept", "op": "is-a", "value": code}
        vs = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": CS, "filter": [is_a]}]}}
        return expand(Context(store), Params.from_resource(
            {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}, *more]}))

    def shown(e):
        return [(c.code, shown(c) if c.contains else None) for c in e.contains]

    flat = ({"name": "excludeNested", "valueBoolean": True},)
    lung, tree, chest_flat = under("lung"), under("chest"), under("chest", *flat)
    assert shown(lung) == [("lung", None)]
    assert shown(tree) == [("chest", [("lung", None), ("heart", None)])]
    assert shown(chest_flat) == [("chest", None), ("lung", None), ("heart", None)]
    for _ in range(2):   # again, from what the first requests kept
        assert same_answer(under("lung"), lung)
        assert same_answer(under("chest", *flat), chest_flat)
        assert same_answer(under("chest"), tree)
    assert under("lung").contains[0] is lung.contains[0]   # (kept: the same entry)
    assert under("chest").contains[0] is not tree.contains[0]   # (codes under it: its own each time)
