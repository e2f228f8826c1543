"""fhir/render: the operations' typed answers said as FHIR. The R4 expansion is rendered directly (not
converted from the R5 one, on the hot path); it must be exactly what the R5 -> R4 conversion the server
applies to stored resources makes of the R5 rendering - the same elements in the same order."""
import orjson
from hypothesis import given, settings, strategies as st

from termsvc.fhir.convert import value_set_r5_to_r4
from termsvc.fhir.render.expansion import expansion
from termsvc.results import Echo, Entry, Expansion, Property

text = st.text(min_size=1, max_size=6)
maybe = lambda s: st.none() | s   # noqa: E731
properties = st.lists(st.builds(Property, text, st.sampled_from(["valueCode", "valueString", "valueBoolean"]),
                                text | st.booleans()), max_size=3)
extensions = st.lists(st.fixed_dictionaries({"url": text, "valueString": text}), min_size=1, max_size=2)
designations = st.lists(st.fixed_dictionaries({"language": text, "value": text}), min_size=1, max_size=2)


def entries(children):
    return st.builds(Entry, maybe(text), maybe(text), maybe(text), maybe(text), st.booleans(), st.booleans(),
                     maybe(designations), maybe(properties), maybe(extensions), children)


tree = st.recursive(entries(st.none()), lambda inner: entries(st.none() | st.lists(inner, min_size=1, max_size=3)),
                    max_leaves=8)
property_defs = st.lists(st.fixed_dictionaries({"code": text, "uri": text}), max_size=2)
expansions = st.builds(Expansion, st.fixed_dictionaries({"url": text}, optional={"version": text}), text, text,
                       st.lists(tree, max_size=4), st.lists(st.builds(Echo, text, st.just("valueString"), text),
                                                            max_size=2),
                       maybe(st.integers(0, 99)), maybe(st.integers(0, 99)), st.booleans(), maybe(text), property_defs)


@settings(max_examples=200, deadline=None)
@given(expansions)
def test_the_r4_expansion_is_the_conversion_of_the_r5_one(e):
    assert orjson.dumps(expansion(e, r4=True)) == orjson.dumps(value_set_r5_to_r4(expansion(e)))


def test_an_r4_entry_says_its_properties_in_the_standard_extension():
    e = Expansion({"url": "http://example.org/vs"}, "urn:uuid:1", "2026-01-01T00:00:00Z",
                  [Entry("http://example.org/cs", "a", display="A", properties=[Property("inactive", "valueBoolean",
                                                                                         False)])],
                  [], total=1, property_defs=[{"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties"}])
    r5, r4 = expansion(e), expansion(e, r4=True)
    assert r5["expansion"]["contains"][0]["property"] == [{"code": "inactive", "valueBoolean": False}]
    assert "property" not in r4["expansion"]["contains"][0] and "property" not in r4["expansion"]
    assert r4["expansion"]["contains"][0]["extension"][0]["extension"] == [
        {"url": "code", "valueCode": "inactive"}, {"url": "value", "valueBoolean": False}]
