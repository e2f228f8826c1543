"""Every parameter an operation advertises (in /openapi.json, the CapabilityStatement's operations and
TerminologyCapabilities, all derived from termsvc/fhir/operations.py) changes an answer: for each one a
request pair that differs only in it gets different answers (the parameter's own echo in an expansion
left out). A parameter accepted but without effect on this content is declared so (`no_effect`, with the
reason) and is not advertised. A new parameter declared without a pair here fails the coverage test."""
from dataclasses import dataclass, field

import pytest

from conftest import post_params
from termsvc.fhir.operations import OPERATIONS, R4, R5

# -- the content the pairs are asked about: sent as tx-resources ------------------------------------

SHAPES = "http://example.org/cs/shapes"
COLORS = "http://example.org/cs/colors"
OTHER = "http://example.org/cs/other"
OTHER_SHAPES = "http://example.org/cs/other-shapes"
SUPPLEMENT = "http://example.org/cs/shapes-fr"
VS = "http://example.org/vs/shapes"               # all of SHAPES, in the version the request selects
VS_BOTH = "http://example.org/vs/shapes-both"     # SHAPES 1.0.0 and 2.0.0
VS_PINNED = "http://example.org/vs/shapes-pinned"  # SHAPES 9.9.9, which nobody has
VS_IMPORTS = "http://example.org/vs/imports"      # imports VS_VERSIONED without a version
VS_VERSIONED = "http://example.org/vs/versioned"  # version 1: circle and square; version 2: circle
VS_OTHER = "http://example.org/vs/other"
CM = "http://example.org/cm/shapes-colors"        # versions 1 (circle: red) and 2 (circle: crimson)
CM_OTHER = "http://example.org/cm/shapes-other"
CM_FROM_VERSION_2 = "http://example.org/cm/shapes-2-other"   # maps from SHAPES 2.0.0 only
CM_OTHER_SHAPES = "http://example.org/cm/other-shapes-colors"
CM_DEPENDS = "http://example.org/cm/shapes-colors-by-size"   # square: red when big, blue when small
SIZE = "http://example.org/attribute/size"
PROPERTIES = [{"code": "notSelectable", "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
               "type": "boolean"},
              {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"},
              {"code": "weight", "type": "integer"}]


def shapes(version: str, *extra) -> dict:
    return {"resourceType": "CodeSystem", "url": SHAPES, "version": version, "status": "active",
            "content": "complete", "caseSensitive": True, "hierarchyMeaning": "is-a", "property": PROPERTIES,
            "concept": [{"code": "shape", "display": "Shape", "definition": "Any shape",
                         "property": [{"code": "notSelectable", "valueBoolean": True}],
                         "designation": [{"language": "de", "value": "Form"}],
                         "concept": [
                             {"code": "circle", "display": "Circle", "definition": "Round",
                              "designation": [{"language": "de", "value": "Kreis"}],
                              "property": [{"code": "weight", "valueInteger": 1}]},
                             {"code": "square", "display": "Square", "definition": "Four sides",
                              "designation": [{"language": "de", "value": "Quadrat"}]},
                             {"code": "oldshape", "display": "Old shape",
                              "property": [{"code": "status", "valueCode": "retired"}]},
                             *extra]}]}


def value_set(url, *includes, version=None, **more) -> dict:
    vs = {"resourceType": "ValueSet", "url": url, "status": "active", "compose": {"include": list(includes)}, **more}
    return {**vs, "version": version} if version else vs


def concept_map(url, version, source_scope, target_scope, source, target, *elements) -> dict:
    return {"resourceType": "ConceptMap", "url": url, "version": version, "status": "active",
            "sourceScopeUri": source_scope, "targetScopeUri": target_scope,
            "group": [{"source": source, "target": target, "element": [
                {"code": code, "target": [{"code": to, "relationship": "equivalent"}]} for code, to in elements]}]}


RESOURCES = [
    shapes("1.0.0"), shapes("2.0.0", {"code": "triangle", "display": "Triangle"}),
    {"resourceType": "CodeSystem", "url": SUPPLEMENT, "version": "1", "status": "active", "content": "supplement",
     "supplements": SHAPES, "concept": [{"code": "circle", "designation": [{"language": "fr", "value": "Cercle"}]}]},
    {"resourceType": "CodeSystem", "url": COLORS, "status": "active", "content": "complete",
     "concept": [{"code": "red", "display": "Red"}, {"code": "crimson"}, {"code": "blue"}]},
    value_set(VS, {"system": SHAPES}),
    value_set(VS_BOTH, {"system": SHAPES, "version": "1.0.0"}, {"system": SHAPES, "version": "2.0.0"}),
    value_set(VS_PINNED, {"system": SHAPES, "version": "9.9.9"}),
    value_set(VS_IMPORTS, {"valueSet": [VS_VERSIONED]}),
    value_set(VS_VERSIONED, {"system": SHAPES, "concept": [{"code": "circle"}, {"code": "square"}]}, version="1"),
    value_set(VS_VERSIONED, {"system": SHAPES, "concept": [{"code": "circle"}]}, version="2"),
    value_set(VS_OTHER, {"system": OTHER}),
    concept_map(CM, "1", VS, "http://example.org/vs/colors", SHAPES, COLORS, ("circle", "red"), ("square", "blue")),
    concept_map(CM, "2", VS, "http://example.org/vs/colors", SHAPES, COLORS, ("circle", "crimson")),
    concept_map(CM_OTHER, "1", VS, VS_OTHER, SHAPES, OTHER, ("circle", "o1")),
    concept_map(CM_FROM_VERSION_2, "1", VS, VS_OTHER, f"{SHAPES}|2.0.0", OTHER, ("circle", "o2")),
    {**concept_map(CM_DEPENDS, "1", VS, "http://example.org/vs/colors", SHAPES, COLORS),
     "group": [{"source": SHAPES, "target": COLORS, "element": [{"code": "square", "target": [
         {"code": color, "relationship": "equivalent", "dependsOn": [{"attribute": SIZE, "valueCode": size}]}
         for color, size in (("red", "big"), ("blue", "small"))]}]}]},
    concept_map(CM_OTHER_SHAPES, "1", "http://example.org/vs/other-shapes", "http://example.org/vs/colors",
                OTHER_SHAPES, COLORS, ("circle", "blue")),
]
TX = [("tx-resource", r) for r in RESOURCES]
SENT_MAP = concept_map("http://example.org/cm/sent", "1", VS, VS_OTHER, SHAPES, OTHER, ("circle", "sent"))


# -- the pairs -----------------------------------------------------------------------------------------

@dataclass
class Pair:
    """Two requests: `base`, then `base` plus `added`; `edition`: the endpoint asked."""
    base: list
    added: list
    edition: str = R5
    prime: list = field(default_factory=list)   # a request sent first (for cache-id)
    tx: bool = True                             # the base carries the tx-resources


def pair(*added, base=(), **kw) -> Pair:
    return Pair(list(base), list(added), **kw)


CIRCLE = [("code", "circle"), ("system", SHAPES)]
EXPAND = {
    "url": pair(("url", VS)),
    "valueSet": pair(("valueSet", value_set("http://example.org/vs/sent", {"system": SHAPES}))),
    "valueSetVersion": pair(("valueSetVersion", "1"), base=[("url", VS_VERSIONED)]),
    "context": pair(("context", VS)),
    "useSupplement": pair(("useSupplement", SUPPLEMENT), base=[("url", VS), ("includeDesignations", True)]),
    "activeOnly": pair(("activeOnly", True), base=[("url", VS)]),
    "default-valueset-version": pair(("default-valueset-version", f"{VS_VERSIONED}|1"), base=[("url", VS_IMPORTS)]),
    "displayLanguage": pair(("displayLanguage", "de"), base=[("url", VS)]),
    "default-to-latest-version": pair(("default-to-latest-version", True), base=[("url", VS_PINNED)]),
    "filter": pair(("filter", "circ"), base=[("url", VS)]),
    "count": pair(("count", 1), base=[("url", VS)]),
    "offset": pair(("offset", 1), base=[("url", VS)]),
    "includeDesignations": pair(("includeDesignations", True), base=[("url", VS)]),
    "designation": pair(("designation", "urn:ietf:bcp:47|de"), base=[("url", VS)]),
    "includeDefinition": pair(("includeDefinition", True), base=[("url", VS)]),
    "excludeNested": pair(("excludeNested", True), base=[("url", VS)]),
    "excludeNotForUI": pair(("excludeNotForUI", True), base=[("url", VS)]),
    "property": pair(("property", "definition"), base=[("url", VS)]),
    "versionsMatch": pair(("versionsMatch", True), base=[("url", VS_BOTH)]),
    "_limit": pair(("_limit", 2), base=[("url", VS)]),
    "limitedExpansion": pair(("limitedExpansion", True), base=[("url", VS), ("_limit", 2)]),
    "_incomplete": pair(("_incomplete", True), base=[("url", VS), ("_limit", 2)]),
    "system-version": pair(("system-version", f"{SHAPES}|1.0.0"), base=[("url", VS)]),
    "check-system-version": pair(("check-system-version", f"{SHAPES}|1.0.0"), base=[("url", VS)]),
    "force-system-version": pair(("force-system-version", f"{SHAPES}|1.0.0"), base=[("url", VS_BOTH)]),
}
VS_VALIDATE = {
    "url": pair(("url", VS), base=CIRCLE),
    "valueSet": pair(("valueSet", value_set("http://example.org/vs/sent", {"system": SHAPES})), base=CIRCLE),
    "valueSetVersion": pair(("valueSetVersion", "1"), base=[("url", VS_VERSIONED), ("code", "square"),
                                                             ("system", SHAPES)]),
    "context": pair(("context", VS), base=CIRCLE),
    "useSupplement": pair(("useSupplement", SUPPLEMENT), base=[("url", VS), *CIRCLE, ("display", "Cercle"),
                                                               ("displayLanguage", "fr")]),
    "activeOnly": pair(("activeOnly", True), base=[("url", VS), ("code", "oldshape"), ("system", SHAPES)]),
    "default-valueset-version": pair(("default-valueset-version", f"{VS_VERSIONED}|1"),
                                     base=[("url", VS_IMPORTS), ("code", "square"), ("system", SHAPES)]),
    "code": pair(("code", "circle"), base=[("url", VS), ("system", SHAPES)]),
    "system": pair(("system", SHAPES), base=[("url", VS), ("code", "circle")]),
    "systemVersion": pair(("systemVersion", "1.0.0"), base=[("url", VS), *CIRCLE]),
    "version": pair(("version", "1.0.0"), base=[("url", VS), *CIRCLE]),
    "display": pair(("display", "Square"), base=[("url", VS), *CIRCLE]),
    "coding": pair(("coding", {"system": SHAPES, "code": "circle"}), base=[("url", VS)]),
    "codeableConcept": pair(("codeableConcept", {"coding": [{"system": SHAPES, "code": "circle"}]}),
                            base=[("url", VS)]),
    "lenient-display-validation": pair(("lenient-display-validation", True),
                                       base=[("url", VS), *CIRCLE, ("display", "Square")]),
    "displayLanguage": pair(("displayLanguage", "de"), base=[("url", VS), *CIRCLE, ("display", "Kreis")]),
    "abstract": pair(("abstract", False), base=[("url", VS), ("code", "shape"), ("system", SHAPES)]),
    "inferSystem": pair(("inferSystem", True), base=[("url", VS), ("code", "circle")]),
    "valueset-membership-only": pair(("valueset-membership-only", True),
                                     base=[("url", VS), *CIRCLE, ("display", "Square")]),
    "system-version": pair(("system-version", f"{SHAPES}|1.0.0"),
                           base=[("url", VS), ("code", "triangle"), ("system", SHAPES)]),
    "check-system-version": pair(("check-system-version", f"{SHAPES}|1.0.0"),
                                 base=[("url", VS), ("code", "triangle"), ("system", SHAPES)]),
    "force-system-version": pair(("force-system-version", f"{SHAPES}|1.0.0"),
                                 base=[("url", VS), ("code", "triangle"), ("system", SHAPES)]),
    "default-to-latest-version": pair(("default-to-latest-version", True), base=[("url", VS_PINNED), *CIRCLE]),
}
CS_VALIDATE = {
    "url": pair(("url", SHAPES), base=[("code", "circle")]),
    "codeSystem": pair(("codeSystem", {**shapes("3.0.0"), "url": "http://example.org/cs/sent"}),
                       base=[("code", "circle")]),
    "code": pair(("code", "circle"), base=[("url", SHAPES)]),
    "system": pair(("system", SHAPES), base=[("code", "circle")]),
    "systemVersion": pair(("systemVersion", "1.0.0"), base=[("url", SHAPES), ("code", "triangle")]),
    "version": pair(("version", "1.0.0"), base=[("url", SHAPES), ("code", "triangle")]),
    "display": pair(("display", "Square"), base=[("url", SHAPES), ("code", "circle")]),
    "coding": pair(("coding", {"system": SHAPES, "code": "circle"})),
    "codeableConcept": pair(("codeableConcept", {"coding": [{"system": SHAPES, "code": "circle"}]})),
    "lenient-display-validation": pair(("lenient-display-validation", True),
                                       base=[("url", SHAPES), ("code", "circle"), ("display", "Square")]),
    "displayLanguage": pair(("displayLanguage", "de"), base=[("url", SHAPES), ("code", "circle"),
                                                             ("display", "Kreis")]),
    "activeOnly": pair(("activeOnly", True), base=[("url", SHAPES), ("code", "oldshape")]),
    "useSupplement": pair(("useSupplement", SUPPLEMENT), base=[("url", SHAPES), ("code", "circle"),
                                                               ("display", "Cercle"), ("displayLanguage", "fr")]),
    "system-version": pair(("system-version", f"{SHAPES}|1.0.0"), base=[("url", SHAPES), ("code", "triangle")]),
    "check-system-version": pair(("check-system-version", f"{SHAPES}|1.0.0"),
                                 base=[("url", SHAPES), ("code", "triangle")]),
    "force-system-version": pair(("force-system-version", f"{SHAPES}|1.0.0"),
                                 base=[("url", SHAPES), ("code", "triangle")]),
    "default-to-latest-version": pair(("default-to-latest-version", True),
                                      base=[("url", SHAPES), ("code", "circle"), ("version", "9.9.9")]),
}
LOOKUP = {
    "system": pair(("system", SHAPES), base=[("code", "circle")]),
    "code": pair(("code", "circle"), base=[("system", SHAPES)]),
    "version": pair(("version", "1.0.0"), base=CIRCLE),
    "coding": pair(("coding", {"system": SHAPES, "code": "circle"})),
    "property": pair(("property", "definition"), base=CIRCLE),
    "displayLanguage": pair(("displayLanguage", "de"), base=CIRCLE),
    "useSupplement": pair(("useSupplement", SUPPLEMENT), base=CIRCLE),
}
SUBSUMES = {
    "codeA": pair(("codeA", "shape"), base=[("system", SHAPES), ("codeB", "circle")]),
    "codeB": pair(("codeB", "circle"), base=[("system", SHAPES), ("codeA", "shape")]),
    "system": pair(("system", SHAPES), base=[("codeA", "shape"), ("codeB", "circle")]),
    "version": pair(("version", "1.0.0"), base=[("system", SHAPES), ("codeA", "shape"), ("codeB", "triangle")]),
    "codingA": pair(("codingA", {"system": SHAPES, "code": "shape"}),
                    base=[("codingB", {"system": SHAPES, "code": "circle"})]),
    "codingB": pair(("codingB", {"system": SHAPES, "code": "circle"}),
                    base=[("codingA", {"system": SHAPES, "code": "shape"})]),
}
R5_SOURCE = [("sourceCode", "circle"), ("system", SHAPES)]
R4_SOURCE = [("code", "circle"), ("system", SHAPES)]
TRANSLATE = {
    "url": pair(("url", CM), base=R5_SOURCE),
    "conceptMap": pair(("conceptMap", SENT_MAP), base=R5_SOURCE),
    "conceptMapVersion": pair(("conceptMapVersion", "1"), base=[("url", CM), *R5_SOURCE]),
    "sourceCode": pair(("sourceCode", "circle"), base=[("system", SHAPES)]),
    "code": pair(("code", "circle"), base=[("system", SHAPES)], edition=R4),
    "system": pair(("system", SHAPES), base=[("sourceCode", "circle")]),
    "sourceSystem": pair(("sourceSystem", SHAPES), base=[("sourceCode", "circle")]),
    "version": pair(("version", "1.0.0"), base=R5_SOURCE),
    "sourceVersion": pair(("sourceVersion", "1.0.0"), base=R5_SOURCE),
    "sourceCoding": pair(("sourceCoding", {"system": SHAPES, "code": "circle"})),
    "coding": pair(("coding", {"system": SHAPES, "code": "circle"}), edition=R4),
    "sourceCodeableConcept": pair(("sourceCodeableConcept", {"coding": [{"system": SHAPES, "code": "circle"}]})),
    "codeableConcept": pair(("codeableConcept", {"coding": [{"system": SHAPES, "code": "circle"}]}), edition=R4),
    "targetCode": pair(("targetCode", "blue")),
    "targetCoding": pair(("targetCoding", {"system": COLORS, "code": "blue"})),
    "targetCodeableConcept": pair(("targetCodeableConcept", {"coding": [{"system": COLORS, "code": "blue"}]})),
    "sourceScope": pair(("sourceScope", "http://example.org/vs/other-shapes"), base=[("sourceCode", "circle")]),
    "source": pair(("source", "http://example.org/vs/other-shapes"), base=[("code", "circle")], edition=R4),
    "targetScope": pair(("targetScope", VS_OTHER), base=R5_SOURCE),
    "target": pair(("target", VS_OTHER), base=R4_SOURCE, edition=R4),
    "targetSystem": pair(("targetSystem", OTHER), base=R5_SOURCE),
    "targetsystem": pair(("targetsystem", OTHER), base=R4_SOURCE, edition=R4),
    "reverse": pair(("reverse", True), base=[("code", "blue"), ("system", COLORS)], edition=R4),
    "dependency": pair(("dependency", ("part", [{"name": "attribute", "valueUri": SIZE},
                                                {"name": "value", "valueCode": "big"}])),
                       base=[("url", CM_DEPENDS), ("sourceCode", "square"), ("system", SHAPES)]),
}
# the pair of each request-level parameter, per operation: a request that needs the tx-resources
REQUEST_LEVEL = {
    ("ValueSet", "expand"): [("url", VS)],
    ("ValueSet", "validate-code"): [("url", VS), *CIRCLE],
    ("CodeSystem", "validate-code"): [("url", SHAPES), ("code", "circle")],
    ("CodeSystem", "lookup"): CIRCLE,
    ("CodeSystem", "subsumes"): [("system", SHAPES), ("codeA", "shape"), ("codeB", "circle")],
    ("ConceptMap", "translate"): R5_SOURCE,
}


def request_level(key) -> dict:
    base = REQUEST_LEVEL[key]
    return {"tx-resource": Pair(base, TX, tx=False),
            "cache-id": Pair(base, [("cache-id", f"pairs-{key[1]}-{key[0]}")], tx=False,
                             prime=base + TX + [("cache-id", f"pairs-{key[1]}-{key[0]}")])}


def batch_pairs() -> dict:
    """$batch-validate-code: each $validate-code parameter as a default of a validation."""
    empty = ("validation", {"resourceType": "Parameters"})
    out = {name: Pair(p.base + [empty], p.added, p.edition, p.prime, p.tx) for name, p in VS_VALIDATE.items()}
    out.update({name: Pair(p.base + [empty], p.added, p.edition, p.prime + ([empty] if p.prime else []), p.tx)
                for name, p in request_level(("ValueSet", "validate-code")).items()})
    out["validation"] = pair(("validation", {"resourceType": "Parameters", "parameter": [
        {"name": "code", "valueCode": "circle"}]}), base=[("url", VS), ("system", SHAPES)])
    return out


PAIRS = {("ValueSet", "expand"): EXPAND, ("ValueSet", "validate-code"): VS_VALIDATE,
         ("CodeSystem", "validate-code"): CS_VALIDATE, ("CodeSystem", "lookup"): LOOKUP,
         ("CodeSystem", "subsumes"): SUBSUMES, ("ConceptMap", "translate"): TRANSLATE}
for _key in PAIRS:
    PAIRS[_key] = {**PAIRS[_key], **request_level(_key)}
PAIRS[("ValueSet", "batch-validate-code")] = batch_pairs()


def advertised():
    for key, op in OPERATIONS.items():
        for p in op.parameters:
            if p.advertised:
                yield key, p


def test_every_advertised_parameter_has_a_pair_and_only_those():
    assert {(key, p.name) for key, p in advertised()} == {(key, name) for key, pairs in PAIRS.items()
                                                           for name in pairs}
    for key, p in advertised():
        assert PAIRS[key][p.name].edition in p.editions, (key, p.name)


def test_what_is_not_advertised_says_why():
    quiet = [(key, p) for key, op in OPERATIONS.items() for p in op.parameters if not p.advertised]
    assert quiet   # excludePostCoordinated
    for key, p in quiet:
        assert len(p.no_effect) > 20, (key, p.name)


def answer(client, key, edition, params) -> tuple[int, dict]:
    base = "/r4/fhir" if edition == R4 else "/fhir"
    r = post_params(client, f"{base}/{key[0]}/${key[1]}", params)
    assert r.status_code < 500, r.get_data(as_text=True)
    return r.status_code, r.get_json()


def without_noise(body: dict, name: str) -> dict:
    """An answer without what differs from one request to the next (an expansion's identifier and
    timestamp) and without the echo of the parameter `name`."""
    expansion = body.get("expansion")
    if expansion is None:
        return body
    expansion = {k: v for k, v in expansion.items() if k not in ("identifier", "timestamp")}
    expansion["parameter"] = [p for p in expansion.get("parameter", []) if p["name"] != name]
    return {**body, "expansion": expansion}


@pytest.mark.parametrize("key,name", [(key, p.name) for key, p in advertised()], ids=str)
def test_each_advertised_parameter_changes_the_answer(client, key, name):
    p = PAIRS[key][name]
    tx = TX if p.tx else []
    if p.prime:
        assert answer(client, key, p.edition, p.prime)[0] == 200
    first = answer(client, key, p.edition, p.base + tx)
    second = answer(client, key, p.edition, p.base + tx + p.added)
    assert (first[0], without_noise(first[1], name)) != (second[0], without_noise(second[1], name)), first


@pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
def test_include_definition_returns_the_value_sets_compose(client, base):
    """R5 $expand includeDefinition: 'controls whether the value set definition is included' (HL7's suite
    expects the compose, not concept definitions in the contains)."""
    vs = value_set("http://example.org/vs/sent", {"system": SHAPES, "filter": [
        {"property": "concept", "op": "is-a", "value": "shape"}]})
    asked = post_params(client, f"{base}/ValueSet/$expand", [("valueSet", vs), ("includeDefinition", True), *TX])
    plain = post_params(client, f"{base}/ValueSet/$expand", [("valueSet", vs), *TX])
    assert asked.status_code == plain.status_code == 200
    assert asked.get_json()["compose"] == vs["compose"] and "compose" not in plain.get_json()
    assert {"name": "includeDefinition", "valueBoolean": True} in asked.get_json()["expansion"]["parameter"]
    entries, todo = [], list(asked.get_json()["expansion"]["contains"])
    while todo:
        entries.append(todo.pop())
        todo += entries[-1].get("contains", [])
    assert len(entries) == 5 and not [p for e in entries for p in e.get("property", []) if p["code"] == "definition"]


def test_the_documented_parameters_are_the_advertised_ones():
    """docs/operations.md lists each operation's parameters: the ones declared and advertised."""
    import os
    import re
    from conftest import PROJECT_DIR
    doc = open(os.path.join(PROJECT_DIR, "docs", "operations.md"), encoding="utf-8").read()
    for (rtype, name), op in OPERATIONS.items():
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{rtype}/${name}`"))
        listed = {t for t in re.findall(r"`([^`]+)`", row.split("|")[2])
                  if not t.startswith("$") and t != "Accept-Language"}   # an operation, a header
        advertised = {p.name for p in op.parameters if p.advertised}
        if name == "batch-validate-code":   # 'every $validate-code parameter as the default'
            assert "every `$validate-code` parameter" in row
            advertised -= {p.name for p in OPERATIONS[("ValueSet", "validate-code")].parameters}
        assert listed == advertised, (rtype, name, listed ^ advertised)


@pytest.mark.parametrize("base,edition", [("/fhir", R5), ("/r4/fhir", R4)])
def test_the_capability_statements_say_what_is_declared(client, base, edition):
    statement = client.get(f"{base}/metadata").get_json()
    served = {(res["type"], o["name"], o["definition"]) for res in statement["rest"][0]["resource"]
              for o in res["operation"]}
    assert served == {(op.resource, op.name, f"http://hl7.org/fhir/OperationDefinition/{op.resource}-{op.name}")
                      for op in OPERATIONS.values()}
    expansion = client.get(f"{base}/metadata?mode=terminology").get_json()["expansion"]
    assert [p["name"] for p in expansion["parameter"]] == \
        [p.name for p in OPERATIONS[("ValueSet", "expand")].parameters if p.advertised and edition in p.editions]
    assert "includeDefinition" in [p["name"] for p in expansion["parameter"]]
    assert "excludePostCoordinated" not in [p["name"] for p in expansion["parameter"]]
