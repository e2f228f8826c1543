"""The engine without HTTP: expand, validate-code, lookup and translate called directly on a small
store built for this module (two versions of one code system, value sets over it, a concept map),
so that a failure points at the operation, not at the routing or the wire format: the answers are
the typed ones the operations return (termsvc.results)."""
import pytest

from conftest import store_of
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Params
from termsvc.ops.context import Context
from termsvc.ops.expand import expand
from termsvc.ops.lookup import lookup
from termsvc.ops.translate import translate
from termsvc.ops.validate import validate_cs, validate_vs

CS = "http://example.org/fhir/CodeSystem/body"
VS = "http://example.org/fhir/ValueSet/body-"
LOCAL = "http://example.org/fhir/CodeSystem/local-body"
CM = "http://example.org/fhir/ConceptMap/local-to-body"


def body_cs(version, extra=()):
    """chest > lung, heart; abdomen; `extra` concepts appended (v2 adds liver, inactive spleen)."""
    return {"resourceType": "CodeSystem", "url": CS, "version": version, "status": "active", "content": "complete",
            "language": "en", "caseSensitive": True, "hierarchyMeaning": "is-a",
            "property": [{"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"}],
            "concept": [{"code": "chest", "display": f"Chest ({version})",
                         "designation": [{"language": "de", "value": "Brustkorb"}],
                         "concept": [{"code": "lung", "display": f"Lung ({version})"},
                                     {"code": "heart", "display": f"Heart ({version})"}]},
                        {"code": "abdomen", "display": f"Abdomen ({version})"}, *extra]}


def value_set(name, *includes, exclude=(), extension=()):
    vs = {"resourceType": "ValueSet", "url": VS + name, "version": "1", "status": "active",
          "compose": {"include": list(includes)}}
    if exclude:
        vs["compose"]["exclude"] = list(exclude)
    if extension:
        vs["compose"]["extension"] = list(extension)
    return vs


def inc(version=None, **kw):
    out = {"system": CS, **kw}
    if version:
        out["version"] = version
    return out


RESOURCES = [
    body_cs("1.0.0"),
    body_cs("2.0.0", [{"code": "liver", "display": "Liver (2.0.0)"},
                      {"code": "spleen", "display": "Spleen (2.0.0)",
                       "property": [{"code": "status", "valueCode": "retired"}]}]),
    value_set("all", inc()),
    value_set("v1", inc("1.0.0")),
    value_set("wildcard", inc("1.x")),
    value_set("missing", inc("3.0.0")),
    value_set("chest", inc(filter=[{"property": "concept", "op": "is-a", "value": "chest"}])),
    value_set("no-chest", inc(), exclude=[inc(filter=[{"property": "concept", "op": "is-a", "value": "chest"}])]),
    value_set("enum", inc(concept=[{"code": "lung", "display": "Left or right lung"}, {"code": "abdomen"}])),
    value_set("both", inc("1.0.0"), inc("2.0.0")),
    value_set("merged", inc("1.0.0"), inc("2.0.0"), extension=[
        {"url": "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter",
         "extension": [{"url": "name", "valueCode": "versionsMatch"}, {"url": "value", "valueString": "true"}]}]),
    value_set("import", {"valueSet": [VS + "enum"]}),
    {"resourceType": "ConceptMap", "url": CM, "version": "1", "status": "active",
     "group": [{"source": LOCAL, "target": CS, "element": [
         {"code": "TH", "display": "Thorax", "target": [{"code": "chest", "relationship": "equivalent"}]},
         {"code": "PULM", "target": [{"code": "lung", "relationship": "source-is-narrower-than-target"}]}]}]},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return store_of(tmp_path_factory.mktemp("engine"), RESOURCES)


def run(op, store, *pairs, **kw):
    """The operation over the store, parameters given as (name, value) pairs of a query string."""
    return op(Context(store), Params.from_query(list(pairs)), **kw)


def contains(vs):
    """(code, version or None, display) of every expansion entry, nested ones flattened."""
    return [(c.code, c.version, c.display) for c in vs.codes()]


def exp_params(vs, name):
    return [p.value for p in vs.parameters if p.name == name]


def issues(answer):
    """(severity, message id, text) of each issue of a validate-code answer."""
    return [(i.severity, i.message_id, i.text) for i in answer.issues]


# -- expand -----------------------------------------------------------------------------------

def test_a_versionless_include_takes_the_latest_version_nested_by_hierarchy(store):
    vs = run(expand, store, ("url", VS + "all"))
    assert exp_params(vs, "used-codesystem") == [f"{CS}|2.0.0"]
    assert [c.code for c in vs.contains] == ["chest", "abdomen", "liver", "spleen"]
    assert [c.code for c in vs.contains[0].contains] == ["lung", "heart"]
    assert vs.total == 6


def test_a_pinned_version_and_a_wildcard(store):
    assert ("lung", None, "Lung (1.0.0)") in contains(run(expand, store, ("url", VS + "v1")))
    assert exp_params(run(expand, store, ("url", VS + "wildcard")), "used-codesystem") == [f"{CS}|1.0.0"]


def test_system_version_is_a_default_force_overrides_check_refuses(store):
    default = run(expand, store, ("url", VS + "all"), ("system-version", f"{CS}|1.0.0"))
    assert exp_params(default, "used-codesystem") == [f"{CS}|1.0.0"]
    assert exp_params(default, "system-version") == [f"{CS}|1.0.0"]   # echoed: it chose the version
    pinned = run(expand, store, ("url", VS + "v1"), ("system-version", f"{CS}|2.0.0"))
    assert exp_params(pinned, "used-codesystem") == [f"{CS}|1.0.0"] and not exp_params(pinned, "system-version")
    forced = run(expand, store, ("url", VS + "v1"), ("force-system-version", f"{CS}|2.0.0"))
    assert exp_params(forced, "used-codesystem") == [f"{CS}|2.0.0"]
    checked = run(expand, store, ("url", VS + "all"), ("check-system-version", f"{CS}|1.x"))
    assert exp_params(checked, "used-codesystem") == [f"{CS}|1.0.0"]   # a default for a versionless include
    with pytest.raises(OpError) as e:
        run(expand, store, ("url", VS + "both"), ("check-system-version", f"{CS}|1.x"))
    assert e.value.message_id == "VALUESET_VERSION_CHECK" and "'2.0.0' is not allowed" in e.value.text


def test_an_unknown_pinned_version_names_the_versions_known(store):
    with pytest.raises(OpError) as e:
        run(expand, store, ("url", VS + "missing"))
    assert e.value.status == 404 and e.value.message_id == "UNKNOWN_CODESYSTEM_VERSION_EXP"
    assert e.value.text.endswith("Valid versions: 1.0.0 or 2.0.0")


def test_filters_excludes_enumerations_and_imports(store):
    assert [c for c, _, _ in contains(run(expand, store, ("url", VS + "chest")))] == ["chest", "lung", "heart"]
    assert [c for c, _, _ in contains(run(expand, store, ("url", VS + "no-chest")))] == ["abdomen", "liver",
                                                                                         "spleen"]
    enum = contains(run(expand, store, ("url", VS + "enum")))
    assert enum == [("lung", None, "Left or right lung"), ("abdomen", None, "Abdomen (2.0.0)")]
    imported = run(expand, store, ("url", VS + "import"))
    assert contains(imported) == enum and exp_params(imported, "used-valueset") == [VS + "enum|1"]


def test_one_system_in_two_versions_lists_each_version_unless_merged(store):
    both = contains(run(expand, store, ("url", VS + "both")))
    assert ("lung", "1.0.0", "Lung (1.0.0)") in both and ("lung", "2.0.0", "Lung (2.0.0)") in both
    assert len(both) == 4 + 6
    merged = run(expand, store, ("url", VS + "merged"))
    assert len(contains(merged)) == 6 and exp_params(merged, "versionsMatch") == [True]


def test_paging_the_pre_expansion_and_the_text_filter(store):
    page = run(expand, store, ("url", VS + "all"), ("count", "2"), ("offset", "1"))
    assert page.total == 6 and page.offset == 1
    assert [c for c, _, _ in contains(page)] == ["lung", "heart"]
    found = run(expand, store, ("url", VS + "all"), ("filter", "brust"))   # a designation's word
    assert [c for c, _, _ in contains(found)] == ["chest"]


def test_active_only_leaves_out_inactive_concepts(store):
    codes = [c for c, _, _ in contains(run(expand, store, ("url", VS + "all"), ("activeOnly", "true")))]
    assert "spleen" not in codes and "liver" in codes


# -- validate-code ------------------------------------------------------------------------------

def test_a_code_of_the_value_set_in_its_version(store):
    out = run(validate_vs, store, ("url", VS + "v1"), ("system", CS), ("code", "lung"))
    assert out.result is True and out.version == "1.0.0"
    assert out.display == "Lung (1.0.0)" and not issues(out)


def test_a_coding_of_another_version_than_the_value_set_pins(store):
    out = run(validate_vs, store, ("url", VS + "v1"), ("system", CS), ("code", "lung"), ("systemVersion", "2.0.0"))
    assert out.result is False and out.version == "1.0.0"
    assert [(s, m) for s, m, _ in issues(out)] == [("error", "VALUESET_VALUE_MISMATCH")]


def test_a_coding_of_an_unknown_version_makes_the_answer_depend_on_it(store):
    out = run(validate_vs, store, ("url", VS + "all"), ("system", CS), ("code", "lung"), ("systemVersion", "9"))
    assert out.result is False
    assert ("error", "UNKNOWN_CODESYSTEM_VERSION") in [(s, m) for s, m, _ in issues(out)]
    assert ("warning", "VALUESET_VALUE_MISMATCH_DEFAULT") in [(s, m) for s, m, _ in issues(out)]
    assert out.caused_by == [f"{CS}|9"]


def test_not_in_the_value_set_and_unknown_codes(store):
    out = run(validate_vs, store, ("url", VS + "chest"), ("system", CS), ("code", "abdomen"))
    assert out.result is False
    assert [m for _, m, _ in issues(out)] == ["None_of_the_provided_codes_are_in_the_value_set_one"]
    out = run(validate_vs, store, ("url", VS + "all"), ("system", CS), ("code", "kidney"))
    assert {m for _, m, _ in issues(out)} == {"None_of_the_provided_codes_are_in_the_value_set_one",
                                               "Unknown_Code_in_Version"}


def test_displays_are_checked_against_the_version_used(store):
    out = run(validate_vs, store, ("url", VS + "v1"), ("system", CS), ("code", "lung"), ("display", "Lung (2.0.0)"))
    assert out.result is False
    assert issues(out)[0][2].endswith("Valid display is 'Lung (1.0.0)' (en) (for the language(s) '--')")
    lenient = run(validate_vs, store, ("url", VS + "v1"), ("system", CS), ("code", "lung"),
                  ("display", "Lung (2.0.0)"), ("lenient-display-validation", "true"))
    assert lenient.result is True and issues(lenient)[0][0] == "warning"
    assert run(validate_vs, store, ("url", VS + "enum"), ("system", CS), ("code", "lung"),
                     ("display", "Left or right lung")).result is True   # the value set's own display


def test_of_two_versions_the_one_whose_display_matches(store):
    out = run(validate_vs, store, ("url", VS + "both"), ("system", CS), ("code", "lung"), ("display", "Lung (1.0.0)"))
    assert out.result is True and out.version == "1.0.0"
    out = run(validate_vs, store, ("url", VS + "both"), ("system", CS), ("code", "lung"))
    assert out.version == "2.0.0"


def test_an_inactive_concept_is_valid_with_a_warning(store):
    out = run(validate_vs, store, ("url", VS + "all"), ("system", CS), ("code", "spleen"))
    assert out.result is True and out.inactive is True
    assert [(s, m) for s, m, _ in issues(out)] == [("warning", "INACTIVE_CONCEPT_FOUND")]


def test_code_system_validation(store):
    assert run(validate_cs, store, ("url", CS), ("code", "heart")).result is True
    out = run(validate_cs, store, ("url", CS), ("code", "heart"), ("version", "7"))
    assert out.result is False and [m for _, m, _ in issues(out)] == ["UNKNOWN_CODESYSTEM_VERSION"]


# -- lookup --------------------------------------------------------------------------------------

def test_lookup_of_a_concept_with_its_hierarchy_and_designations(store):
    out = run(lookup, store, ("system", CS), ("code", "chest"))
    assert out.display == "Chest (2.0.0)" and out.version == "2.0.0"
    props = {(p.code, p.value) for p in out.properties if p.code in ("parent", "child")}
    assert props == {("child", "lung"), ("child", "heart")}
    assert any(d.value == "Brustkorb" for d in out.designations)
    assert run(lookup, store, ("system", CS), ("code", "chest"), ("version", "1.0.0")).display == "Chest (1.0.0)"
    assert run(lookup, store, ("system", CS), ("code", "chest"), ("displayLanguage", "de")).display == "Brustkorb"


def test_lookup_of_an_unknown_code_is_a_404(store):
    with pytest.raises(OpError) as e:
        run(lookup, store, ("system", CS), ("code", "kidney"))
    assert e.value.status == 404 and e.value.message_id == "Unknown_Code_in_Version"


# -- translate -----------------------------------------------------------------------------------

def match_codes(out):
    return [(m.relationship, m.concept["code"]) for m in out.matches]


def test_translate_forward_reverse_and_nothing(store):
    out = run(translate, store, ("system", LOCAL), ("sourceCode", "PULM"))
    assert out.result is True and match_codes(out) == [("source-is-narrower-than-target", "lung")]
    back = run(translate, store, ("targetCode", "chest"), ("targetSystem", CS))
    assert back.result is True
    assert [m.source["code"] for m in back.matches] == ["TH"]
    none = run(translate, store, ("system", LOCAL), ("sourceCode", "XX"))
    assert none.result is False and none.message.startswith("No translations found")
