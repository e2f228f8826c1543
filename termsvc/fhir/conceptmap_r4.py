"""R5 ConceptMap -> R4 ConceptMap (the inverse of termsvc.fhir.convert.concept_map_r4_to_r5).

- `equivalence` is the author's R4 word when kept (EXT_R4_EQUIVALENCE, then dropped
  from the target's extensions), else the standard mapping of the R5 relationship;
- `noMap: true` becomes a target with `equivalence: unmatched` (and the comment
  from the `conceptmap-nomap-comment` extension);
- scopes `sourceScopeUri/Canonical` -> `sourceUri/Canonical` (same for target);
  `identifier` list -> the first one; group `source`/`target` `url|version` ->
  `source` + `sourceVersion`; `unmapped.mode` use-source-code -> provided,
  `otherMap` -> `url`; dependsOn/product `attribute` + `value[x]` -> `property` (the uri of the
  additional attribute the code names, else the attribute as written) + `system`/`value`/`display`;
- what R4 has no element for is kept in FHIR's cross-version extensions: the map's `additionalAttribute`
  and `property` (extension-ConceptMap.additionalAttribute / .property, sub-extensions code/uri/description/
  type, and a property's system), a target's `property` values (sub-extensions code/value), a
  dependsOn/product's `valueSet` and a value R4's `value` string does not say whole - any but a valueString
  and a Coding of system, code and display (its `value` is then the value as text, the extension the typed
  value: a valueCode reads back as a valueCode);
- the other R5-only elements (element/target valueSet, author/reviewer/..., versionAlgorithm,
  copyrightLabel) are dropped.
"""
from __future__ import annotations

import copy
from typing import Any

from termsvc.fhir.convert import (ADDITIONAL_ATTRIBUTE_PARTS, EXT_ADDITIONAL_ATTRIBUTE, EXT_NOMAP_COMMENT, EXT_PROPERTY,
                                  EXT_R4_EQUIVALENCE, PROPERTY_PARTS, R5_UNMAPPED_MODE, declared_r5_to_r4,
                                  other_value_extension, other_value_set_extension, quantity_text, r4_equivalence,
                                  target_property_r4)
from termsvc.results import JSON

# the R5 relationship where the author wrote an R5 code (no R4 word kept), so an R4 copy
# imports back to what was written
EXT_R5_RELATIONSHIP = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ConceptMap.group.element.target.relationship"
_SCOPES = {"sourceScopeUri": "sourceUri", "sourceScopeCanonical": "sourceCanonical",
           "targetScopeUri": "targetUri", "targetScopeCanonical": "targetCanonical"}
_R5_ONLY_ROOT = {"property", "additionalAttribute", "versionAlgorithmString", "versionAlgorithmCoding",
                 "copyrightLabel", "approvalDate", "lastReviewDate", "effectivePeriod", "topic",
                 "author", "editor", "reviewer", "endorser", "relatedArtifact"}


def concept_map_r5_to_r4(cm: JSON) -> JSON:
    out: dict[str, Any] = {}
    attributes = [a for a in cm.get("additionalAttribute", []) or [] if isinstance(a, dict) and a.get("code")]
    uris = {a["code"]: a["uri"] for a in attributes if a.get("uri")}
    for k, v in cm.items():
        if k in _SCOPES:
            out[_SCOPES[k]] = v
        elif k in _R5_ONLY_ROOT:
            continue
        elif k == "identifier" and isinstance(v, list):
            if v:
                out[k] = copy.deepcopy(v[0])
        elif k == "group":
            out[k] = [_group(g, uris) for g in v]
        else:
            out[k] = copy.deepcopy(v)
    properties = [p for p in cm.get("property", []) or [] if isinstance(p, dict) and p.get("code")]
    if attributes or properties:
        out["extension"] = [*out.get("extension", []),
                            *(declared_r5_to_r4(p, EXT_PROPERTY, PROPERTY_PARTS) for p in properties),
                            *(declared_r5_to_r4(a, EXT_ADDITIONAL_ATTRIBUTE, ADDITIONAL_ATTRIBUTE_PARTS)
                              for a in attributes)]
    return out


def _split(canonical: str) -> tuple[str, str | None]:
    if "|" in canonical:
        url, ver = canonical.split("|", 1)
        return url, ver
    return canonical, None


def _group(g: JSON, uris: dict[str, str]) -> JSON:
    out: dict[str, Any] = {}
    for k, v in g.items():
        if k in ("source", "target"):
            url, ver = _split(v)
            out[k] = url
            if ver:
                out[k + "Version"] = ver
        elif k == "unmapped":
            um = {}
            for uk, uv in v.items():
                if uk == "mode":
                    um["mode"] = R5_UNMAPPED_MODE.get(uv, uv)
                elif uk == "otherMap":
                    um["url"] = uv
                elif uk in ("relationship", "valueSet"):
                    continue
                else:
                    um[uk] = copy.deepcopy(uv)
            out[k] = um
        elif k == "element":
            out[k] = [_element(e, uris) for e in v]
        else:
            out[k] = copy.deepcopy(v)
    return out


def _element(e: JSON, uris: dict[str, str]) -> JSON:
    out: dict[str, Any] = {}
    nomap_comment = None
    for k, v in e.items():
        if k in ("noMap", "valueSet", "target"):
            continue
        if k == "extension":
            keep = []
            for x in v:
                if x.get("url") == EXT_NOMAP_COMMENT and e.get("noMap"):
                    nomap_comment = x.get("valueString")
                else:
                    keep.append(copy.deepcopy(x))
            if keep:
                out[k] = keep
            continue
        out[k] = copy.deepcopy(v)
    targets = [_target(t, uris) for t in e.get("target", []) or []]
    if e.get("noMap"):
        t = {"equivalence": "unmatched"}
        if nomap_comment:
            t["comment"] = nomap_comment
        targets.insert(0, t)
    if targets:
        out["target"] = targets
    return out


def _other(o: JSON, kind: str, uris: dict[str, str]) -> JSON:
    attribute = o.get("attribute")
    out: dict[str, Any] = {"property": uris.get(attribute, attribute) if isinstance(attribute, str) else attribute}
    if isinstance(o.get("valueCoding"), dict):
        c = o["valueCoding"]
        for src, dst in (("system", "system"), ("code", "value"), ("display", "display")):
            if c.get(src) is not None:
                out[dst] = c[src]
        if not c.get("system") or not c.keys() <= {"system", "code", "display"}:   # (R4 reads no other Coding back)
            out["extension"] = [{"url": other_value_extension(kind), "valueCoding": copy.deepcopy(c)}]
    elif o.get("valueSet"):
        out["extension"] = [{"url": other_value_set_extension(kind), "valueCanonical": o["valueSet"]}]
    else:
        for k, v in o.items():
            if not k.startswith("value"):
                continue
            out["value"] = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else \
                quantity_text(v) if isinstance(v, dict) else str(v)
            if k != "valueString":   # a code, boolean, Quantity...: as text, and typed in the extension
                out["extension"] = [{"url": other_value_extension(kind), k: copy.deepcopy(v)}]
    return out


def _target(t: JSON, uris: dict[str, str]) -> JSON:
    out: dict[str, Any] = {}
    for k, v in t.items():
        if k in ("relationship", "valueSet"):
            continue
        if k == "property":
            out.setdefault("extension", []).extend(target_property_r4(p) for p in v if isinstance(p, dict))
        elif k == "extension":
            keep = [copy.deepcopy(x) for x in v if x.get("url") != EXT_R4_EQUIVALENCE]
            if keep:
                out.setdefault(k, []).extend(keep)
        elif k in ("dependsOn", "product"):
            out[k] = [_other(o, k, uris) for o in v]
        else:
            out[k] = copy.deepcopy(v)
    out["equivalence"] = r4_equivalence(t)
    kept_word = any(x.get("url") == EXT_R4_EQUIVALENCE for x in t.get("extension", []) or [])
    if t.get("relationship") and not kept_word:
        out.setdefault("extension", []).append({"url": EXT_R5_RELATIONSHIP, "valueCode": t["relationship"]})
    return out
