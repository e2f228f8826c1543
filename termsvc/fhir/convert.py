"""R4 <-> R5 shape conversion for the terminology resources.

The store and the operations work on R5 shapes. R4 content (packages, R4
clients) is converted on the way in; an R4 ConceptMap target keeps the author's
`equivalence` word in the standard cross-version extension so that the R4
answer is what the author wrote.
"""
import copy
from typing import Any

from termsvc.results import JSON

EXT_NOMAP_COMMENT = "http://hl7.org/fhir/StructureDefinition/conceptmap-nomap-comment"
XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
# R5-only parts of a ConceptMap, carried in R4 by the cross-version extensions: the map's additional
# attributes (sub-extensions code, uri, description, type), and a dependsOn/product's value set or
# value of a type R4's string cannot hold
EXT_ADDITIONAL_ATTRIBUTE = XVER + "ConceptMap.additionalAttribute"
ADDITIONAL_ATTRIBUTE_PARTS = {"code": "valueCode", "uri": "valueUri", "description": "valueString",
                              "type": "valueCode"}
# ... and the properties it declares (sub-extensions as the attributes', and system), with a target's values
# of them (sub-extensions code and value)
EXT_PROPERTY = XVER + "ConceptMap.property"
PROPERTY_PARTS = {**ADDITIONAL_ATTRIBUTE_PARTS, "system": "valueCanonical"}
EXT_TARGET_PROPERTY = XVER + "ConceptMap.group.element.target.property"
EXT_R4_EQUIVALENCE = "http://hl7.org/fhir/1.0/StructureDefinition/extension-ConceptMap.element.target.equivalence"

EQUIVALENCE_TO_RELATIONSHIP = {
    "relatedto": "related-to", "equivalent": "equivalent", "equal": "equivalent",
    "wider": "source-is-narrower-than-target", "subsumes": "source-is-narrower-than-target",
    "narrower": "source-is-broader-than-target", "specializes": "source-is-broader-than-target",
    "inexact": "related-to", "disjoint": "not-related-to",
}
RELATIONSHIP_TO_EQUIVALENCE: dict[str | None, str] = {
    "related-to": "relatedto", "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider", "source-is-broader-than-target": "narrower",
    "not-related-to": "disjoint",
}
R4_UNMAPPED_MODE = {"provided": "use-source-code", "fixed": "fixed", "other-map": "other-map"}
R5_UNMAPPED_MODE = {v: k for k, v in R4_UNMAPPED_MODE.items()}
_SCOPE_R4_TO_R5 = {"sourceUri": "sourceScopeUri", "sourceCanonical": "sourceScopeCanonical",
                   "targetUri": "targetScopeUri", "targetCanonical": "targetScopeCanonical"}


def is_r4_concept_map(cm: JSON) -> bool:
    if any(k in cm for k in _SCOPE_R4_TO_R5):
        return True
    if any(x.get("url") in (EXT_ADDITIONAL_ATTRIBUTE, EXT_PROPERTY) for x in _extensions(cm)):
        return True
    for g in cm.get("group", []) or []:
        if "sourceVersion" in g or "targetVersion" in g:
            return True
        um = g.get("unmapped") or {}
        if um.get("mode") == "provided" or "url" in um:
            return True
        for e in g.get("element", []) or []:
            for t in e.get("target", []) or []:
                if "equivalence" in t or any("property" in o for o in t.get("dependsOn", []) or []):
                    return True
    return False


def quantity_text(q: JSON) -> str:
    """`70 kg`: a Quantity as conditions write it."""
    return f"{q.get('value')} {q.get('code') or q.get('unit') or ''}".strip()


def _extensions(e: object) -> list[JSON]:
    exts = e.get("extension") if isinstance(e, dict) else None
    return [x for x in exts if isinstance(x, dict)] if isinstance(exts, list) else []


def other_value_extension(kind: str) -> str:
    """The cross-version extension of a dependsOn's (kind `dependsOn`) or product's R5 value[x]."""
    return f"{XVER}ConceptMap.group.element.target.{kind}.value"


def other_value_set_extension(kind: str) -> str:
    return f"{XVER}ConceptMap.group.element.target.{kind}.valueSet"


def additional_attributes_r4(cm: JSON) -> list[JSON]:
    """The R5 additionalAttribute an R4 ConceptMap carries in the cross-version extension."""
    return declared_r4(cm, EXT_ADDITIONAL_ATTRIBUTE, ADDITIONAL_ATTRIBUTE_PARTS)


def declared_r4(cm: JSON, url: str, parts: dict[str, str]) -> list[JSON]:
    """What an R4 ConceptMap declares in the cross-version extension `url` (the R5 additionalAttribute, the
    property), each a code and the other `parts` (sub-extension -> its value key)."""
    out = []
    for x in _extensions(cm):
        if x.get("url") != url:
            continue
        declared = {}
        for part in _extensions(x):
            key = parts.get(str(part.get("url")))
            if key and isinstance(part.get(key), str):
                declared[part["url"]] = part[key]
        if declared.get("code"):
            out.append(declared)
    return out


def declared_r5_to_r4(declared: JSON, url: str, parts: dict[str, str]) -> JSON:
    """An R5 additionalAttribute or property (declared_r4's inverse)."""
    return {"url": url, "extension": [{"url": part, key: declared[part]} for part, key in parts.items()
                                      if isinstance(declared.get(part), str)]}


def _value_of(element: JSON) -> tuple[str, Any] | None:
    """(value[x] key, value) of an element, or None."""
    return next(((k, v) for k, v in element.items() if k.startswith("value")), None)


def target_property_r4(prop: JSON) -> JSON:
    """An R5 target's property value (code, value[x]) in its cross-version extension."""
    value = _value_of(prop)
    return {"url": EXT_TARGET_PROPERTY, "extension": [{"url": "code", "valueCode": prop.get("code")}]
            + ([{"url": "value", value[0]: copy.deepcopy(value[1])}] if value else [])}


def _target_property_r5(x: JSON) -> JSON:
    out: dict[str, Any] = {}
    for part in _extensions(x):
        if part.get("url") == "code" and isinstance(part.get("valueCode"), str):
            out["code"] = part["valueCode"]
        elif part.get("url") == "value" and (value := _value_of(part)):
            out[value[0]] = copy.deepcopy(value[1])
    return out


def _other_r4_to_r5(o: JSON, kind: str, codes: dict[str, str]) -> JSON:
    """An R4 dependsOn/product (kind) in R5: its `property` uri names the map's additional attribute whose
    uri it is (`codes`: uri -> code), else it is the attribute; a value or value set R4 could not hold
    comes back from its cross-version extension."""
    prop = o.get("property")
    out: dict[str, Any] = {"attribute": codes.get(prop, prop) if isinstance(prop, str) else prop}
    typed = None
    value_set = None
    for x in _extensions(o):
        if x.get("url") == other_value_extension(kind):
            typed = _value_of(x)
        elif x.get("url") == other_value_set_extension(kind):
            value_set = x.get("valueCanonical")
    if value_set:
        out["valueSet"] = value_set
    elif typed:
        out[typed[0]] = copy.deepcopy(typed[1])
    elif "system" in o:
        out["valueCoding"] = {k: v for k, v in (("system", o.get("system")), ("code", o.get("value")),
                                                  ("display", o.get("display"))) if v is not None}
    elif "value" in o:
        out["valueString"] = o["value"]
    return out


def concept_map_r4_to_r5(cm: JSON) -> JSON:
    out: dict[str, Any] = {}
    attributes = additional_attributes_r4(cm)
    codes: dict[str, str] = {}
    for a in attributes:
        codes.setdefault(a.get("uri") or a["code"], a["code"])
    for k, v in cm.items():
        if k in _SCOPE_R4_TO_R5:
            out[_SCOPE_R4_TO_R5[k]] = v
        elif k == "identifier" and isinstance(v, dict):
            out[k] = [v]
        elif k == "group":
            out[k] = [_group_r4_to_r5(g, codes) for g in v]
        elif k == "extension":
            kept = [copy.deepcopy(x) for x in v
                    if not isinstance(x, dict) or x.get("url") not in (EXT_ADDITIONAL_ATTRIBUTE, EXT_PROPERTY)]
            if kept:
                out[k] = kept
        else:
            out[k] = copy.deepcopy(v)
    properties = declared_r4(cm, EXT_PROPERTY, PROPERTY_PARTS)
    if properties:
        out["property"] = properties
    if attributes:
        out["additionalAttribute"] = attributes
    return out


def _group_r4_to_r5(g: JSON, codes: dict[str, str]) -> JSON:
    out = {}
    for k, v in g.items():
        if k in ("sourceVersion", "targetVersion"):
            continue
        if k in ("source", "target"):
            ver = g.get(k + "Version")
            out[k] = f"{v}|{ver}" if ver else v
        elif k == "unmapped":
            um = {}
            for uk, uv in v.items():
                if uk == "mode":
                    um["mode"] = R4_UNMAPPED_MODE.get(uv, uv)
                elif uk == "url":
                    um["otherMap"] = uv
                else:
                    um[uk] = uv
            out[k] = um
        elif k == "element":
            out[k] = [_element_r4_to_r5(e, codes) for e in v]
        else:
            out[k] = copy.deepcopy(v)
    return out


def _element_r4_to_r5(e: JSON, codes: dict[str, str]) -> JSON:
    out = {k: copy.deepcopy(v) for k, v in e.items() if k != "target"}
    targets = []
    for t in e.get("target", []) or []:
        eq = t.get("equivalence")
        if eq == "unmatched":
            out["noMap"] = True
            if t.get("comment"):
                out.setdefault("extension", []).append({"url": EXT_NOMAP_COMMENT, "valueString": t["comment"]})
            continue
        nt: dict[str, Any] = {}
        for k, v in t.items():
            if k == "equivalence":
                continue
            if k in ("dependsOn", "product"):
                nt[k] = [_other_r4_to_r5(o, k, codes) for o in v]
            elif k == "extension":
                properties = [_target_property_r5(x) for x in _extensions(t) if x.get("url") == EXT_TARGET_PROPERTY]
                if properties:
                    nt["property"] = properties
                kept = [copy.deepcopy(x) for x in v if not isinstance(x, dict) or x.get("url") != EXT_TARGET_PROPERTY]
                if kept:
                    nt[k] = kept
            else:
                nt[k] = copy.deepcopy(v)
        if eq:
            nt["relationship"] = EQUIVALENCE_TO_RELATIONSHIP.get(eq, "related-to")
            nt.setdefault("extension", []).append({"url": EXT_R4_EQUIVALENCE, "valueCode": eq})
        targets.append(nt)
    if targets:
        out["target"] = targets
    return out


EXT_R5_FILTER_OP = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.include.filter.op"


def _has_filter_op_extension(compose: object) -> bool:
    """Does a filter of the compose say its operator in an extension (`_op`)?"""
    if not isinstance(compose, dict):
        return False
    for part in ("include", "exclude"):
        incs = compose.get(part)
        for inc in incs if isinstance(incs, list) else ():
            fs = inc.get("filter") if isinstance(inc, dict) else None
            for f in fs if isinstance(fs, list) else ():
                if isinstance(f, dict) and "_op" in f:
                    return True
    return False


def value_set_r4_to_r5(vs: JSON) -> JSON:
    """R4 carries the R5-only filter operators (child-of, descendent-leaf) in an extension on `_op`."""
    if not _has_filter_op_extension(vs.get("compose")):
        return vs
    vs = copy.deepcopy(vs)
    for inc in (vs["compose"].get("include", []) or []) + (vs["compose"].get("exclude", []) or []):
        for f in inc.get("filter", []) or []:
            for x in _extensions(f.get("_op")):
                if x.get("url") == EXT_R5_FILTER_OP and x.get("valueCode"):
                    f["op"] = x["valueCode"]
                    f.pop("_op", None)
    return vs


def to_r5(resource: JSON) -> JSON:
    """Normalise a terminology resource to the R5 shape the store keeps."""
    rt = resource.get("resourceType")
    if rt == "ConceptMap" and is_r4_concept_map(resource):
        return concept_map_r4_to_r5(resource)
    if rt == "ValueSet":
        return value_set_r4_to_r5(resource)
    return resource


def r4_equivalence(target: JSON) -> str:
    """The R4 equivalence of an R5 target: the author's word when kept, else the standard mapping."""
    for x in target.get("extension", []) or []:
        if x.get("url") == EXT_R4_EQUIVALENCE and x.get("valueCode"):
            word: str = x["valueCode"]
            return word
    return RELATIONSHIP_TO_EQUIVALENCE.get(target.get("relationship"), "relatedto")


EXT_VS_EXP_PROP = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
EXT_VS_CONTAINS_PROP = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"


def value_set_r5_to_r4(vs: JSON) -> JSON:
    """An expansion in R4 shape: the R5-only property elements become the standard extensions."""
    exp = vs.get("expansion")
    if not isinstance(exp, dict):
        return vs
    vs = dict(vs)
    exp = dict(exp)
    vs["expansion"] = exp
    props = exp.pop("property", None)
    if props:
        exp["extension"] = list(exp.get("extension", [])) + [
            {"url": EXT_VS_EXP_PROP, "extension": [{"url": "code", "valueCode": p.get("code")},
                                                   {"url": "uri", "valueUri": p.get("uri")}]} for p in props]

    def walk(contains: list[JSON]) -> list[JSON]:
        out = []
        for c in contains:
            c = dict(c)
            cprops = c.pop("property", None)
            if cprops:
                exts = list(c.get("extension", []))
                for p in cprops:
                    key = next((k for k in p if k.startswith("value")), None)
                    sub = [{"url": "code", "valueCode": p.get("code")}]
                    if key:
                        sub.append({"url": "value", key: p[key]})
                    exts.append({"url": EXT_VS_CONTAINS_PROP, "extension": sub})
                c["extension"] = exts
            if c.get("contains"):
                c["contains"] = walk(c["contains"])
            out.append(c)
        return out

    if exp.get("contains"):
        exp["contains"] = walk(exp["contains"])
    return vs


# R5-only elements of CodeSystem and ValueSet -> the value[x] of their cross-version extension
R5_ONLY_METADATA = {"approvalDate": "valueDate", "lastReviewDate": "valueDate", "effectivePeriod": "valuePeriod",
                    "topic": "valueCodeableConcept", "author": "valueContactDetail", "editor": "valueContactDetail",
                    "reviewer": "valueContactDetail", "endorser": "valueContactDetail",
                    "relatedArtifact": "valueRelatedArtifact", "copyrightLabel": "valueString",
                    "versionAlgorithmString": "valueString", "versionAlgorithmCoding": "valueCoding"}


def canonical_r5_to_r4(res: JSON) -> JSON:
    """A CodeSystem or ValueSet in R4 shape: the R5-only elements become the standard
    cross-version extensions (`extension-ValueSet.approvalDate`...), an expansion its R4 form."""
    rt = res.get("resourceType")
    moved = [k for k in res if k in R5_ONLY_METADATA]
    compose = res.get("compose") if rt == "ValueSet" else None
    if moved or (compose and "property" in compose):
        res = dict(res)
        exts = list(res.get("extension", []))
        for k in moved:
            element = k.removesuffix("String").removesuffix("Coding")
            values = res.pop(k)
            for v in values if isinstance(values, list) else [values]:
                exts.append({"url": f"{XVER}{rt}.{element}", R5_ONLY_METADATA[k]: v})
        if exts:
            res["extension"] = exts
        if compose and "property" in compose:
            compose = dict(compose)
            compose["extension"] = list(compose.get("extension", [])) + [
                {"url": f"{XVER}ValueSet.compose.property", "valueString": p} for p in compose.pop("property")]
            res["compose"] = compose
    return value_set_r5_to_r4(res) if rt == "ValueSet" else res
