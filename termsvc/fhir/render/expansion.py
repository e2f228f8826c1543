"""$expand as a ValueSet with its expansion, in R5 or R4 (where a code's properties and the expansion's
property definitions are the standard cross-version extensions, placed where the R5 -> R4 conversion of
the R5 expansion puts them)."""
from termsvc.fhir.convert import EXT_VS_CONTAINS_PROP, EXT_VS_EXP_PROP
from termsvc.fhir.params import Params
from termsvc.results import JSON, Entry, Expansion

UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"
# a parameter of the request that changes nothing here (`date`): its name and why, on the expansion
EXT_NO_EFFECT = "http://termsvc.local/fhir/StructureDefinition/parameter-no-effect"
TOO_COSTLY = "http://hl7.org/fhir/StructureDefinition/valueset-toocostly"


def said_unused(vs: JSON, params: Params, no_effect: tuple[tuple[str, str], ...]) -> JSON:
    """The expansion `vs` with each parameter given that changes nothing here (Operation.without_effect)
    echoed in `expansion.parameter` as asked, and said in the EXT_NO_EFFECT extension (an expansion has no
    issues: this is its warning)."""
    exp = vs["expansion"]
    for name, text in no_effect:
        given = params.first(name)
        if given is None:
            continue
        if given.key:
            exp["parameter"].append({"name": name, given.key: given.value})
        exp.setdefault("extension", []).append({"url": EXT_NO_EFFECT, "extension": [
            {"url": "parameter", "valueCode": name}, {"url": "message", "valueString": text}]})
    return vs


def expansion(e: Expansion, r4: bool = False) -> JSON:
    exp: JSON = {"identifier": e.identifier, "timestamp": e.timestamp}
    extensions: list[JSON] = []
    if e.partial:   # the first codes of an expansion too large to give whole: how many there are is not said
        extensions.append({"url": TOO_COSTLY, "valueBoolean": True})
    else:
        exp["total"] = e.total
        if e.offset is not None:
            exp["offset"] = e.offset
    if e.unclosed_reason is not None:
        extensions += [{"url": UNCLOSED, "valueBoolean": True},
                       {"url": UNCLOSED + "-reason", "valueString": e.unclosed_reason}]
    if extensions:
        exp["extension"] = extensions
    exp["parameter"] = [{"name": p.name, p.key: p.value} for p in e.parameters]
    if r4:
        if e.contains:
            exp["contains"] = [_entry(c, True) for c in e.contains]
        if e.property_defs:
            exp["extension"] = exp.get("extension", []) + [
                {"url": EXT_VS_EXP_PROP, "extension": [{"url": "code", "valueCode": p.get("code")},
                                                       {"url": "uri", "valueUri": p.get("uri")}]}
                for p in e.property_defs]
    else:
        if e.property_defs:
            exp["property"] = e.property_defs
        if e.contains:
            exp["contains"] = [_entry(c, False) for c in e.contains]
    return {"resourceType": "ValueSet", **e.value_set, "expansion": exp}


def _entry(e: Entry, r4: bool) -> JSON:
    """One code (and the codes under it). R4 says its properties in extensions, after its other elements
    or with the extensions it carries."""
    if not (e.designations or e.properties or e.extensions or e.contains or e.version or e.abstract or e.inactive
            or e.display is None):   # (most codes)
        return {"system": e.system, "code": e.code, "display": e.display}
    out: JSON = {}
    if e.extensions:
        out["extension"] = e.extensions
    out["system"] = e.system
    if e.version:
        out["version"] = e.version
    if e.abstract:
        out["abstract"] = True
    if e.inactive:
        out["inactive"] = True
    out["code"] = e.code
    if e.display:
        out["display"] = e.display
    if e.designations:
        out["designation"] = e.designations
    if r4:
        if e.contains:
            out["contains"] = [_entry(c, True) for c in e.contains]
        if e.properties:
            out["extension"] = out.get("extension", []) + [
                {"url": EXT_VS_CONTAINS_PROP, "extension": [{"url": "code", "valueCode": p.code},
                                                            {"url": "value", p.key: p.value}]}
                for p in e.properties]
    else:
        if e.properties:
            out["property"] = [{"code": p.code, p.key: p.value} for p in e.properties]
        if e.contains:
            out["contains"] = [_entry(c, False) for c in e.contains]
    return out
