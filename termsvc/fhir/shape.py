"""Structural checks of request input: a malformed resource or Coding is a 400
naming the element at fault, never an exception deep inside an operation. A terminology resource a
request sends is held to the rule a package's is held to when it is loaded (shape_problem: termsvc.loaders)."""
import re
from collections.abc import Callable
from typing import Any, NoReturn

import orjson

from termsvc.fhir import messages

_STR = (str,)

# The C0 control characters no text of a terminology holds: all but tab, and CR / LF (which end a release
# file's lines, and may break a FHIR string or a spreadsheet cell). Such a character marks damaged input, as
# bytes that are not UTF-8 do: a release file or package with one is refused (termsvc.loaders), a mapping
# table's row is in error, a resource a request sends is a 400 (termsvc.fhir.params) - never stored, served,
# or silently changed (a term with a character replaced is not the term its author wrote).
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# ... as orjson writes one in a JSON string (a '\\b' may be an escaped backslash and a b: a second look decides)
_CONTROL_IN_JSON = re.compile(rb"\\(?:u00(?:0[0-8bcef]|1[0-9a-f])|[bf])")


def control_character(text: str) -> str | None:
    """'a control character (U+0007) at character 12' for the first in `text`, or None."""
    m = CONTROL_CHARACTER.search(text)
    return None if m is None else f"a control character (U+{ord(m.group()):04X}) at character {m.start() + 1}"


def control_character_in(value: object, path: str) -> tuple[str, str] | None:
    """(where, what) of the first string of a JSON value (a resource a request sends) holding a control
    character, or None: looked for in its JSON at C speed, then walked to name the element."""
    try:
        if not _CONTROL_IN_JSON.search(orjson.dumps(value)):
            return None
    except TypeError:   # deeper than orjson writes: walked
        pass
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            what = control_character(node)
            if what:
                return where, what
        elif isinstance(node, dict):
            stack += [(v, f"{where}.{k}") for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(v, f"{where}[{i}]") for i, v in reversed(list(enumerate(node)))]
    return None


# -- the shape of a terminology resource: what the store reads of it (a package's, a request's) --------------
# a spec is a type (str, bool, dict: any object), a {key: spec} object or a [spec] list
_EXTENSIONS = [{"url": str, "extension": [dict]}]   # (an extension's extensions are read as far as this)
_SET = {"system": str, "version": str, "valueSet": [str], "filter": [{"property": str, "op": str}],
        "concept": [{"code": str, "display": str, "designation": [dict], "extension": _EXTENSIONS}]}
_DECLARED = {"code": str, "uri": str, "type": str, "description": str}   # a ConceptMap's attribute or property
_CONDITION = {  # a target's dependsOn or product (R5: attribute, value[x] or valueSet; R4: property, system, value)
    **dict.fromkeys(("attribute", "property", "system", "value", "display", "valueCode", "valueString", "valueSet"), str),
    "valueCoding": {"system": str, "version": str, "code": str, "display": str}, "valueBoolean": bool,
    "valueQuantity": dict, "extension": _EXTENSIONS}
_TARGET = {"code": str, "display": str, "relationship": str, "equivalence": str, "comment": str, "valueSet": str,
           "property": [dict], "extension": _EXTENSIONS, "dependsOn": [_CONDITION], "product": [_CONDITION]}
SHAPES: dict[str, dict[str, Any]] = {
    "CodeSystem": {"property": [{"code": str, "type": str}], "filter": [{"code": str}]},   # (concepts: below)
    "ValueSet": {"compose": {"include": [_SET], "exclude": [_SET], "extension": _EXTENSIONS},
                 "expansion": {"contains": [dict]}},   # (its contains, nested: below)
    "ConceptMap": {**dict.fromkeys(("sourceScopeUri", "sourceScopeCanonical", "targetScopeUri", "targetScopeCanonical",
                                    "sourceUri", "sourceCanonical", "targetUri", "targetCanonical"), str),
                   "additionalAttribute": [_DECLARED], "property": [{**_DECLARED, "system": str}],
                   "group": [{"source": str, "target": str, "sourceVersion": str, "targetVersion": str,
                              "unmapped": dict.fromkeys(("mode", "code", "display", "url", "otherMap", "valueSet",
                                                         "relationship"), str),
                              "element": [{"code": str, "display": str, "valueSet": str, "noMap": bool,
                                           "extension": _EXTENSIONS, "target": [_TARGET]}]}]},
}
_COMMON = {"resourceType": str, "id": str, "url": str, "version": str, "name": str, "title": str, "status": str,
           "extension": _EXTENSIONS}


def shape_problem(res: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a terminology resource (the element, and what it should be), or None;
    a code given twice in a CodeSystem, or a control character in a concept's text, is wrong too."""
    rtype = str(res.get("resourceType"))
    misfit = None if _FITS.get(rtype, _FITS_COMMON)(res) else _misfit(res, {**_COMMON, **SHAPES.get(rtype, {})}, rtype)
    if misfit:
        return misfit
    if rtype == "CodeSystem":
        return _concepts_problem(res.get("concept"), f"{rtype}.concept")
    if rtype == "ValueSet":
        return _compose_text_problem(res) or _contains_problem(res)
    return None


def _contains_problem(vs: dict[str, Any]) -> str | None:
    """What is wrong with a ValueSet's expansion as a request may send one (its shape checked but for the
    contains nested in contains): each an object, its system, version, code and display strings."""
    stack = [(c, f"ValueSet.expansion.contains[{i}]") for i, c in enumerate((vs.get("expansion") or {}).get("contains")
                                                                             or ())]
    while stack:
        c, at = stack.pop()
        if not isinstance(c, dict):
            return f"{at} is not an object"
        misfit = next((f"{at}.{k} is not a string" for k in ("system", "version", "code", "display")
                       if c.get(k) is not None and not isinstance(c[k], str)), None)
        if misfit:
            return misfit
        nested = c.get("contains")
        if nested is not None and not isinstance(nested, list):
            return f"{at}.contains is not a list"
        stack += [(d, f"{at}.contains[{j}]") for j, d in enumerate(nested or ())]
    return None


def _misfit(res: dict[str, Any], spec: dict[str, Any], rtype: str) -> str | None:
    """Where the resource does not fit its spec. Walked without recursion: elements nest as deep as the
    JSON does."""
    stack: list[tuple[Any, Any, str]] = [(res, spec, rtype)]   # (found, and named)
    while stack:
        node, spec, where = stack.pop()
        if isinstance(spec, list):
            if not isinstance(node, list):
                return f"{where} is not a list"
            stack += [(item, spec[0], f"{where}[{i}]") for i, item in enumerate(node)]
        elif isinstance(spec, dict):
            if not isinstance(node, dict):
                return f"{where} is not an object"
            stack += [(node[k], s, f"{where}.{k}") for k, s in spec.items() if node.get(k) is not None]
        elif not isinstance(node, spec):
            return f"{where} is not {_TYPE_NAMES[spec]}"
    return None


_TYPE_NAMES = {str: "a string", dict: "an object", bool: "true or false"}


def _fitting(spec: Any) -> Callable[[Any], bool]:
    """Whether a value fits the spec, as a function made once per spec (the fast path of shape_problem: the
    values of a package's resources are checked, not described). An object is walked by its own keys (a few,
    where its spec may name many)."""
    if isinstance(spec, list):
        item = _fitting(spec[0])
        return lambda node: isinstance(node, list) and all(map(item, node))
    if isinstance(spec, dict):
        checks = {k: None if s is str else _fitting(s) for k, s in spec.items()}   # None: a string

        def fits(node: Any) -> bool:
            if not isinstance(node, dict):
                return False
            for k, v in node.items():
                if v is None or k not in checks:
                    continue
                check = checks[k]
                if not (isinstance(v, str) if check is None else check(v)):
                    return False
            return True
        return fits
    return lambda node: isinstance(node, spec)


_FITS = {rtype: _fitting({**_COMMON, **spec}) for rtype, spec in SHAPES.items()}
_FITS_COMMON = _fitting(_COMMON)


def _concepts_problem(concepts: object, where: str) -> str | None:
    """What is wrong with a CodeSystem's concepts (nested ones too): each an object, its code a string given
    once, its display and definition strings, its designations, properties and extensions lists of objects. (The hot
    part of loading a package: the place of a concept is spelt out only when something is wrong there.)"""
    first: dict[str, tuple[str, int]] = {}
    stack = [(concepts, where)] if concepts is not None else []
    while stack:
        items, at = stack.pop()
        if not isinstance(items, list):
            return f"{at} is not a list"
        for i, c in enumerate(items):
            if not isinstance(c, dict):
                return f"{at}[{i}] is not an object"
            code = c.get("code")
            if code is not None:
                if not isinstance(code, str):
                    return f"{at}[{i}].code is not a string"
                if code in first:
                    return (f"{at}[{i}]: the code {code!r} is given twice in the code system (first at"
                            f" {first[code][0]}[{first[code][1]}])")
                first[code] = (at, i)
            for key in ("display", "definition"):
                if c.get(key) is not None and not isinstance(c[key], str):
                    return f"{at}[{i}].{key} is not a string"
            for key in ("designation", "property", "extension"):
                value = c.get(key)
                if value is not None and not (isinstance(value, list) and all(isinstance(x, dict) for x in value)):
                    return f"{at}[{i}].{key} is not a list of objects"
            text = _text_problem(c, f"{at}[{i}]")
            if text:
                return text
            if c.get("concept") is not None:
                stack.append((c["concept"], f"{at}[{i}].concept"))
    return None


def _text_problem(c: dict[str, Any], at: str) -> str | None:
    """A control character (CONTROL_CHARACTER) in a concept's code, display, definition or
    designations, named by element."""
    for key in ("code", "display", "definition"):
        value = c.get(key)
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            return f"{at}.{key}: {control_character(value)}"
    for j, d in enumerate(c.get("designation") or ()):
        value = d.get("value") if isinstance(d, dict) else None
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            return f"{at}.designation[{j}].value: {control_character(value)}"
    return None


def _compose_text_problem(vs: dict[str, Any]) -> str | None:
    """_text_problem of the concepts a ValueSet's compose lists (its shape already checked)."""
    for part in ("include", "exclude"):
        for i, inc in enumerate((vs.get("compose") or {}).get(part) or ()):
            for j, c in enumerate(inc.get("concept") or ()):
                problem = _text_problem(c, f"ValueSet.compose.{part}[{i}].concept[{j}]")
                if problem:
                    return problem
    return None


def _fail(path: str, what: str) -> NoReturn:
    raise messages.error("structure", issue_code="structure", tx_type="invalid-data", path=path, what=what)


def _obj(v: object, path: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        _fail(path, "must be an object")
    return v


def _list(v: object, path: str, element: str = "") -> list[Any]:
    """v as a list (None: empty); `path` + `element` is where it is (joined only when it is not a list)."""
    if v is None:
        return []
    if not isinstance(v, list):
        _fail(path + element, "must be an array")
    return v


def _strs(d: dict[str, Any], path: str, *keys: str) -> None:
    for k in keys:
        v = d.get(k)
        if v is not None and not isinstance(v, _STR):
            _fail(f"{path}.{k}", "must be a string")


def check_coding(c: object, path: str = "Coding") -> dict[str, Any]:
    c = _obj(c, path)
    _strs(c, path, "system", "version", "code", "display")
    for k in ("system", "version", "code", "display"):
        v = c.get(k)
        if v and not v.isprintable() and (what := control_character(v)):
            _fail(f"{path}.{k}", f"holds {what}: a FHIR string holds none but tab, CR and LF")
    return c


def check_codeable_concept(cc: object, path: str = "CodeableConcept") -> dict[str, Any]:
    cc = _obj(cc, path)
    for i, c in enumerate(_list(cc.get("coding"), f"{path}.coding")):
        check_coding(c, f"{path}.coding[{i}]")
    return cc


def _check_concepts(concepts: object, path: str) -> None:
    if concepts is None:
        return
    for i, c in enumerate(_list(concepts, path)):
        p = f"{path}[{i}]"
        _obj(c, p)
        _strs(c, p, "code", "display", "definition")
        for j, d in enumerate(_list(c.get("designation"), f"{p}.designation")):
            _obj(d, f"{p}.designation[{j}]")
            _strs(d, f"{p}.designation[{j}]", "language", "value")
        for j, pr in enumerate(_list(c.get("property"), f"{p}.property")):
            _obj(pr, f"{p}.property[{j}]")
        _check_concepts(c.get("concept"), f"{p}.concept")


def check_resource(r: object, path: str = "resource") -> dict[str, Any]:
    """A CodeSystem, ValueSet or ConceptMap sound enough to be used (other types pass)."""
    r = _obj(r, path)
    rt = r.get("resourceType")
    path = rt or path
    _strs(r, path, "url", "version", "status", "content", "language", "supplements")
    if rt == "CodeSystem":
        _check_concepts(r.get("concept"), f"{path}.concept")
        for j, pr in enumerate(_list(r.get("property"), f"{path}.property")):
            _obj(pr, f"{path}.property[{j}]")
    elif rt == "ValueSet":
        compose = r.get("compose")
        if compose is not None:
            _obj(compose, f"{path}.compose")
            for part in ("include", "exclude"):
                for i, inc in enumerate(_list(compose.get(part), path, f".compose.{part}")):
                    p = f"{path}.compose.{part}[{i}]"
                    _obj(inc, p)
                    _strs(inc, p, "system", "version")
                    for j, v in enumerate(_list(inc.get("valueSet"), p, ".valueSet")):
                        if not isinstance(v, str):
                            _fail(f"{p}.valueSet[{j}]", "must be a canonical URL")
                    _check_concepts(inc.get("concept"), f"{p}.concept")
                    for j, f in enumerate(_list(inc.get("filter"), p, ".filter")):
                        pf = f"{p}.filter[{j}]"
                        _obj(f, pf)
                        _strs(f, pf, "property", "op", "value")
        for i, c in enumerate(_list(r.get("contained"), path, ".contained")):
            check_resource(c, f"{path}.contained[{i}]")
    elif rt == "ConceptMap":
        for i, g in enumerate(_list(r.get("group"), f"{path}.group")):
            p = f"{path}.group[{i}]"
            _obj(g, p)
            _strs(g, p, "source", "target")
            if g.get("unmapped") is not None:
                _obj(g["unmapped"], f"{p}.unmapped")
            for j, e in enumerate(_list(g.get("element"), f"{p}.element")):
                _obj(e, f"{p}.element[{j}]")
                _strs(e, f"{p}.element[{j}]", "code", "display")
                for k, t in enumerate(_list(e.get("target"), f"{p}.element[{j}].target")):
                    _obj(t, f"{p}.element[{j}].target[{k}]")
                    _strs(t, f"{p}.element[{j}].target[{k}]", "code", "display", "relationship", "equivalence")
    if rt in SHAPES:   # (what a package holding it is refused for: a code given twice...)
        problem = shape_problem(r)
        if problem:
            _fail(path, problem)
    return r
