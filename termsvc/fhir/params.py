"""Operation parameters: from a query string or a Parameters resource into one shape, typed at the door.

Each operation's parameters are declared once (fhir/operations.py); a `Signature`, made from that
declaration when this module is imported, reads a request: a declared parameter of the wrong type (a
number for a code, a boolean for a url, a resource in a query string) or whose text breaks FHIR's
lexical rule of its type (LEXICAL: a date that is no date, an empty value, ...), one given twice that may be
given once, or a malformed Parameters (a name that is not a string, an entry that is not an object, a
`part` that is not an array, not exactly one of value[x] / resource / part) is a 400 naming it, before
any operation runs. Each parameter keeps its FHIR value key (valueBoolean, valueCode, ...) so an
operation can echo it as it was sent; query-string values get the key of the declared type.
Parameters nobody declared are kept as they are (an operation ignores what it does not know).
"""
import builtins
import datetime
import functools
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from termsvc.fhir import messages
from termsvc.fhir.operations import OPERATIONS, Operation, Parameter
from termsvc.fhir.outcome import OpError, issue
from termsvc.fhir.shape import check_codeable_concept, check_coding, control_character_in
from termsvc.results import JSON

STRING_KEYS = frozenset({"valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical", "valueId",
                         "valueOid", "valueUuid", "valueMarkdown"})
INTEGER_KEYS = frozenset({"valueInteger", "valueUnsignedInt", "valuePositiveInt"})
MAX_INT = 2**31 - 1  # FHIR integer


@dataclass(slots=True)
class Param:
    """One parameter: its value (with the FHIR value key it came with), resource or parts. Never changed
    once made (a query string's are shared: Signature.from_query_string)."""
    name: str
    key: str | None = None
    value: object = None
    resource: JSON | None = None
    part: list[Any] | None = None


class Params:
    """The parameters of one request, in order; the first of each name at hand."""

    def __init__(self, items: list[Param] | None = None, by_name: dict[builtins.str, Param] | None = None):
        """`by_name`: the first of each name in `items`, when the caller made it already."""
        if by_name is None:
            self.items = items or []
        else:
            self._items = items or []
            self._by_name = by_name

    @property
    def items(self) -> list[Param]:
        return self._items

    @items.setter
    def items(self, items: list[Param]) -> None:
        self._items = items
        index: dict[builtins.str, Param] = {}   # the first parameter of each name
        for p in items:
            index.setdefault(p.name, p)
        self._by_name = index

    @classmethod
    def from_query(cls, pairs: Iterable[tuple[str, str]]) -> "Params":
        """Any operation's parameters from a query string (each name typed as any operation declares it)."""
        return ANY.from_query(pairs)

    @classmethod
    def from_resource(cls, body: object) -> "Params":
        """Any operation's parameters from a Parameters resource."""
        return ANY.from_resource(body)

    # -- access ---------------------------------------------------------------------
    def names_repeat(self) -> bool:
        return len(self._by_name) < len(self._items)

    def has(self, name: str) -> bool:
        return name in self._by_name

    def has_any(self, names: frozenset[builtins.str]) -> bool:
        return not names.isdisjoint(self._by_name)

    def firsts(self) -> Mapping[builtins.str, Param]:
        """The first parameter of each name, by name (in the order of the request)."""
        return self._by_name

    def first(self, name: str) -> Param | None:
        return self._by_name.get(name)

    def get(self, name: str, default: Any = None) -> Any:   # (a value of any FHIR type, or a resource)
        p = self._by_name.get(name)
        if p is None:
            return default
        return p.resource if p.resource is not None else p.value

    def all(self, name: str) -> list[Any]:
        if name not in self._by_name:
            return []
        return [p.resource if p.resource is not None else p.value for p in self._items if p.name == name]

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        p = self._by_name.get(name)
        v = default if p is None else (p.resource if p.resource is not None else p.value)
        if v is not None and not isinstance(v, str):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, (int, float)):
                return str(v)
            raise messages.error("param-simple", name=name)
        return v

    def bool(self, name: builtins.str, default: bool = False) -> bool:
        p = self._by_name.get(name)
        v = None if p is None else (p.resource if p.resource is not None else p.value)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise messages.error("param-boolean", name=name, value="")

    def int(self, name: builtins.str, default: builtins.int | None = None) -> builtins.int | None:
        v = self.get(name)
        if v is None:
            return default
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise messages.error("param-integer", name=name, value=v) from None
        if n > MAX_INT:
            raise messages.error("param-range", name=name, value=v)
        if n < 0:
            raise messages.error("param-negative", name=name)
        return n

    def resources(self, name: builtins.str) -> list[JSON]:
        if name not in self._by_name:
            return []
        return [p.resource for p in self._items if p.name == name and isinstance(p.resource, dict)]


# -- the query string -----------------------------------------------------------------------------

LEFT_OUT = frozenset({"_format", "_pretty"})   # about the answer's format, not an operation's parameters
MAX_CACHED_FIELD = 256   # longer fields of a query string are read each time (a cache of them would grow large)


@functools.lru_cache(maxsize=8192)  # system URLs and codes repeat from request to request
def unquote(s: str) -> str:
    """A field of a query string decoded ('+' is a space); escapes that are no UTF-8 are a 400."""
    if "+" in s:
        s = s.replace("+", " ")
    if "%" not in s:
        return s
    try:
        return urllib.parse.unquote(s, errors="strict")
    except UnicodeDecodeError:
        raise OpError(f"The query string is not UTF-8: {s[:60]!r} has escapes of bytes that are no UTF-8 text",
                      code="invalid") from None


def parse_query(query: str, leave_out: Iterable[str] = ()) -> list[tuple[str, str]]:
    """urllib.parse.parse_qsl(query, keep_blank_values=True), without its per-field overhead:
    fields without '%' or '+' are taken as they are; those named in `leave_out` are left out."""
    out = []
    for field in query.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        name = unquote(name)
        if name not in leave_out:
            out.append((name, unquote(value)))
    return out


# -- typing ------------------------------------------------------------------------------------

def _shown(value: object) -> str:
    """A value as the request had it, short enough for a message."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:   # an integer past 64 bits (a request's JSON never has one: orjson reads it as a float)
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse(message_id: str, expression: str | None = None, **args: object) -> OpError:
    """A 400 whose issue names the parameter (and, in a Parameters resource, where it is)."""
    text = messages.text(message_id, **args)
    return OpError(text, issues=[issue("error", "invalid", text, "invalid-data", expression)])


def _boolean_text(name: str, raw: str) -> bool:
    if raw not in ("true", "false"):   # FHIR's boolean: exactly these two
        raise messages.error("param-boolean", name=name, value=f", not '{raw}'")
    return raw == "true"


INTEGER = re.compile(r"0|[-+]?[1-9][0-9]*")   # FHIR's integer (no leading zeros, no spaces)


def _integer_text(name: str, raw: str) -> int:
    if not INTEGER.fullmatch(raw):
        raise messages.error("param-integer", name=name, value=raw)
    value = int(raw)
    if not -MAX_INT <= value <= MAX_INT:
        raise messages.error("param-range", name=name, value=raw)
    return value


def _coding_text(name: str, raw: str) -> JSON:
    """'system|code' (or a bare code) from a query string as a Coding (checked as a Parameters resource's is)."""
    if "|" in raw:
        system, code = raw.split("|", 1)
        coding = {"code": code, "system": system} if system else {"code": code}
    else:
        coding = {"code": raw}
    return coding if raw.isprintable() else check_coding(coding, f"The parameter '{name}': Coding")


@dataclass(frozen=True, slots=True)
class Kind:
    """How the values of one FHIR type are read: from a query string (the value key it gets and a
    conversion; no key: only a Parameters resource can carry it) and from a Parameters resource (the
    value keys it may come with, and a check that returns the value, possibly normalised)."""
    expected: str                       # for messages: "a boolean: valueBoolean true or false"
    query_key: str | None
    body_keys: frozenset[str] = frozenset()
    from_text: Callable[[str, str], object] | None = None   # from_text(name, raw) -> value, raising on a wrong one
    check: Callable[[str, Any], object] | None = None   # check(name, value) -> value, raising TypeError on a wrong one
    in_resource: bool = False
    in_parts: bool = False


def _boolean(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):   # as HL7's own test suite sends it
        return value.lower() == "true"
    raise TypeError


def _integer_check(minimum: int) -> Callable[[str, object], int]:
    def checked(name: str, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError
        if not -MAX_INT <= value <= MAX_INT:
            raise messages.error("param-range", name=name, value=value)
        if value < minimum:
            raise messages.error("param-minimum", name=name, minimum=minimum, value=value)
        return value
    return checked


def _integer_kind(fhir_type: str, minimum: int) -> Kind:
    """integer (any), unsignedInt (0 or more), positiveInt (1 or more): any of the three value keys."""
    check = _integer_check(minimum)

    def from_text(name: str, raw: str) -> int:
        return check(name, _integer_text(name, raw))
    expected = "an integer" if minimum < 0 else f"a {fhir_type} ({minimum} or more)"
    return Kind(f"{expected}: valueInteger", "valueInteger", INTEGER_KEYS, from_text, check)


def _structure(check: Callable[[object, str], JSON], fhir_type: str) -> Callable[[str, object], JSON]:
    """A check of a complex value: an object whose elements fhir/shape.py checks."""
    def checked(name: str, value: object) -> JSON:
        if not isinstance(value, dict):
            raise TypeError
        return check(value, f"The parameter '{name}': {fhir_type}")
    return checked


# FHIR's lexical rules of its primitive types (R5 datatypes; a time needs its time zone, as FHIR says), with
# two leniencies the engine relies on: a code may have spaces around it (a DICOM value is padded to an even
# length; a mapping table's case-insensitive groups match it trimmed, elsewhere it is an unknown code), and a
# uri's query may hold spaces (the ECL of an implicit SNOMED CT value set URL, decoded once). FHIR's `\s`
# is spelled out (the control characters, which FHIR's strings should not hold, and every character any
# regular expression engine calls a space), so that /openapi.json's patterns mean what these do everywhere
CONTROLS = r"\x00-\x1f\x7f-\x9f"
SPACES = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TOKEN = f"[^{CONTROLS}{SPACES}]+"
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH_DAY = r"-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_URI = rf"[^{CONTROLS}{SPACES}?]+(\?[^{CONTROLS}]*)?"
LEXICAL = {
    "string": re.compile(r"[\s\S]+"),                # anything but nothing
    "code": re.compile(f" *{_TOKEN}( +{_TOKEN})* *"),   # something, and no whitespace but spaces
    "uri": re.compile(_URI),
    "canonical": re.compile(_URI),
    "date": re.compile(rf"{_YEAR}({_MONTH_DAY})?)?"),
    "dateTime": re.compile(rf"{_YEAR}({_MONTH_DAY}({_TIME})?)?)?"),
    "instant": re.compile(rf"{_YEAR}{_MONTH_DAY}{_TIME})"),
}
_URI_RULE = ("a string, not empty, without control characters or whitespace (but spaces in its query, as in an ECL"
             " value set URL)")
RULES = {
    "string": "a string: not empty",
    "code": "a code: a string, not blank, without control characters or whitespace but spaces",
    "uri": f"a uri: {_URI_RULE}", "canonical": f"a canonical: {_URI_RULE}",
    "date": "a date: YYYY, YYYY-MM or YYYY-MM-DD", "instant": "an instant: YYYY-MM-DDThh:mm:ss with a time zone",
    "dateTime": "a dateTime: YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone (Z, +hh:mm)",
}
STRING_SPELLINGS = "valueString, valueCode, valueUri, valueCanonical ..."
DATE_KEYS = frozenset({"valueDate", "valueDateTime", "valueInstant"})


def _is_a_date(text: str) -> bool:
    """A YYYY-MM-DD start names a day of the calendar (not 2023-02-29)."""
    if len(text) < 10:
        return True
    try:
        datetime.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _text_kind(fhir_type: str, query_key: str, body_keys: frozenset[str], values: frozenset[str] = frozenset(),
               pattern: str = "", pattern_text: str = "") -> Kind:
    """A primitive written as text: its value keys, FHIR's lexical rule of its type (and, for dates, the
    calendar), for a code from a fixed set, the set, and the syntax `pattern` its declaration may add."""
    rule = LEXICAL[fhir_type].fullmatch
    syntax = re.compile(pattern).fullmatch if pattern else None
    dated = fhir_type in ("date", "dateTime", "instant")
    uri_like = fhir_type in ("uri", "canonical")   # (a uri starts with no '?': its query needs a uri before it)
    spellings = STRING_SPELLINGS if body_keys is STRING_KEYS else ", ".join(sorted(body_keys))
    expected = f"one of {', '.join(sorted(values))}" if values else f"{pattern_text or RULES[fhir_type]} ({spellings})"

    def valid(text: str) -> bool:
        if syntax is not None and syntax(text) is None:
            return False
        if not dated and text and (fhir_type == "string" or " " not in text and text.isprintable()
                                   and not (uri_like and text[0] == "?")):
            return not values or text in values   # (quick: a string not empty, or no whitespace at all)
        return rule(text) is not None and (not dated or _is_a_date(text)) and (not values or text in values)

    def from_text(name: str, raw: str) -> str:
        if dated and " " in raw and "+" not in raw:   # an unencoded '+' of a time zone arrives as a space
            raw = raw.replace(" ", "+")
        if not valid(raw):
            raise _refuse("param-type", None, name=name, expected=expected, got=_shown(raw))
        return raw

    def check(name: str, value: object) -> str:
        if not isinstance(value, str) or not valid(value):
            raise TypeError
        return value
    return Kind(expected, query_key, body_keys, from_text, check)


KINDS = {
    "string": _text_kind("string", "valueString", STRING_KEYS),
    "code": _text_kind("code", "valueCode", STRING_KEYS),
    "uri": _text_kind("uri", "valueUri", STRING_KEYS),
    "canonical": _text_kind("canonical", "valueCanonical", STRING_KEYS),
    "date": _text_kind("date", "valueDate", DATE_KEYS),
    "dateTime": _text_kind("dateTime", "valueDateTime", DATE_KEYS),
    "instant": _text_kind("instant", "valueInstant", DATE_KEYS),
    "boolean": Kind("a boolean: valueBoolean true or false", "valueBoolean", frozenset({"valueBoolean"}),
                    _boolean_text, _boolean),
    "integer": _integer_kind("integer", -MAX_INT),
    "unsignedInt": _integer_kind("unsignedInt", 0),
    "positiveInt": _integer_kind("positiveInt", 1),
    "Coding": Kind("a Coding: valueCoding", "valueCoding", frozenset({"valueCoding"}), _coding_text,
                   _structure(check_coding, "Coding")),
    "CodeableConcept": Kind("a CodeableConcept: valueCodeableConcept", None, frozenset({"valueCodeableConcept"}),
                            None, _structure(check_codeable_concept, "CodeableConcept")),
    "Resource": Kind("a resource", None, in_resource=True),
    "Parameters": Kind("a Parameters resource, or parts", None, in_resource=True, in_parts=True),
}


def kind_of(p: Parameter) -> Kind:
    """How the values of the declared parameter `p` are read (a code from a fixed set: those codes only; one
    with a syntax of its own: that syntax too)."""
    if p.values or p.pattern:
        return _text_kind(p.type, KINDS[p.type].query_key or "valueCode", KINDS[p.type].body_keys,
                          frozenset(p.values), p.pattern, p.pattern_text)
    return KINDS[p.type]


UNDECLARED = Kind("anything", "valueString")
ENTRY_ELEMENTS = frozenset({"name", "id", "extension"})   # of a parameter entry, but its value (a modifierExtension
#                                                           is refused: whatever it modifies, this server does not know)


class Signature:
    """How the parameters of one operation (or of any, for `ANY`) are read; made once, at import time."""

    def __init__(self, parameters: Sequence[Parameter]):
        self.declared: dict[str, Parameter] = {p.name: p for p in parameters}
        self.kinds = {p.name: kind_of(p) for p in parameters}
        # for the query string, the hot path: name -> (value key, conversion or None)
        self.query = {name: (k.query_key, k.from_text) for name, k in self.kinds.items()}
        self.once = frozenset(p.name for p in parameters if not p.repeats)
        # a query string's fields read (decoded, typed) are kept: names, system URLs and codes repeat from
        # request to request (a field's Param is shared and never changed, a Coding in it copied for each
        # request; a refused field is not kept)
        self._field = functools.lru_cache(maxsize=8192)(self._read_field)

    # -- a query string ----------------------------------------------------------------------
    def from_query_string(self, query: str) -> Params:
        """from_query(parse_query(query, LEFT_OUT)) in one pass (the hot path of every GET)."""
        items: list[Param] = []
        by_name: dict[str, Param] = {}
        read = self._field
        for field in query.split("&"):
            if not field:
                continue
            p = read(field) if len(field) <= MAX_CACHED_FIELD else self._read_field(field)
            if p is None:
                continue
            if p.value.__class__ is dict:   # a Coding: the request's own (an answer may hold it)
                p = Param(p.name, p.key, dict(p.value))
            items.append(p)
            if p.name not in by_name:
                by_name[p.name] = p
        params = Params(items, by_name)
        return self.checked(params) if len(by_name) < len(items) else params

    def _read_field(self, field: str) -> Param | None:
        """One `name=value` field of a query string, typed (None: a field left out)."""
        name, _, raw = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name)
        if name in LEFT_OUT:
            return None
        return self._query_param(name, unquote(raw) if "%" in raw or "+" in raw else raw)

    def _query_param(self, name: str, raw: str) -> Param:
        typed = self.query.get(name)
        if typed is None:
            return Param(name, "valueString", raw)
        key, from_text = typed
        if key is None:
            raise messages.error("param-body-only", name=name, what=self._what(name))
        return Param(name, key, raw if from_text is None else from_text(name, raw))

    def from_query(self, pairs: Iterable[tuple[str, str]]) -> Params:
        return self.checked(Params([self._query_param(name, raw) for name, raw in pairs]))

    # -- a Parameters resource ----------------------------------------------------------------
    def from_resource(self, body: object, query_pairs: Iterable[tuple[str, str]] = ()) -> Params:
        """The parameters of a Parameters resource, after those of the query string (`query_pairs`)."""
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            rt = body.get("resourceType") if isinstance(body, dict) else None
            raise messages.error("body-not-parameters", type=rt if isinstance(rt, str) else "something else")
        parameters = body.get("parameter")
        if parameters is None:
            parameters = []
        elif not isinstance(parameters, list):
            raise messages.error("param-not-array")
        items = self.from_query(query_pairs).items if query_pairs else []
        for i, p in enumerate(parameters):
            items.append(self.param(p, f"Parameters.parameter[{i}]"))
        return self.checked(Params(items))

    def param(self, p: object, where: str) -> Param:
        """One entry of a Parameters resource (at `where`), typed."""
        if not isinstance(p, dict):
            raise _refuse("param-entry", where, where=where, got=_shown(p))
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise _refuse("param-name", where + ".name", where=where, got=_shown(name))
        key: str | None = None
        holds: list[str] = []
        for k in p:
            if k.startswith("value"):
                key = k
                holds.append(k)
            elif k in ("resource", "part"):
                holds.append(k)
            elif k not in ENTRY_ELEMENTS:
                raise _refuse("param-element", where, where=where, got=_shown(k)[:60])
        if ("id" in p or "extension" in p) and (not isinstance(p.get("id", ""), str) or not (
                isinstance(p.get("extension", []), list) and all(isinstance(e, dict) for e in p.get("extension", [])))):
            raise _refuse("param-element", where, where=where, got="an id that is no string or an extension that is"
                                                                   " no array of objects")
        if len(holds) != 1:
            raise _refuse("param-one-value", where, name=name, got=" and ".join(holds) or "none")
        kind = self.kinds.get(name, UNDECLARED)
        if key is not None:
            value = p[key]
            if kind is not UNDECLARED:
                if key not in kind.body_keys or kind.check is None:
                    raise self._wrong(name, where, f"{key}: {_shown(value)}")
                try:
                    value = kind.check(name, value)
                except TypeError:
                    raise self._wrong(name, where, f"{key}: {_shown(value)}") from None
            return Param(name, key, value)
        if "resource" in p:
            resource = p["resource"]
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise _refuse("param-resource", where + ".resource", name=name)
            if kind is not UNDECLARED:
                types = self.declared[name].resource_types or (("Parameters",) if kind.in_parts else ())
                if not kind.in_resource or (types and resource["resourceType"] not in types):
                    raise self._wrong(name, where, f"a {resource['resourceType']} resource")
            damaged = control_character_in(resource, f"{where}.resource")
            if damaged is not None:
                raise _refuse("param-control", damaged[0], name=name, where=damaged[0], what=damaged[1])
            return Param(name, resource=resource)
        part = p["part"]
        if not isinstance(part, list):
            raise _refuse("param-part", where + ".part", name=name)
        if kind is not UNDECLARED and not kind.in_parts:
            raise self._wrong(name, where, "parts")
        for j, q in enumerate(part):
            ANY_PART.param(q, f"{where}.part[{j}]")
        return Param(name, part=part)

    def _what(self, name: str) -> str:
        """What a declared parameter is, for messages: 'a code: a string (...)', 'a ValueSet resource'."""
        types = self.declared[name].resource_types
        return f"a {' or '.join(types)} resource" if types else self.kinds[name].expected

    def _wrong(self, name: str, where: str, got: str) -> OpError:
        return _refuse("param-type", where, name=name, expected=self._what(name), got=got)

    # -- both ------------------------------------------------------------------------------------
    def checked(self, params: Params) -> Params:
        """`params`, refused when a parameter that may be given once is given more often."""
        if params.names_repeat():   # (rare) which?
            for name in self.once:
                count = sum(1 for p in params.items if p.name == name)
                if count > 1:
                    raise messages.error("param-repeated", name=name, count=count)
        return params


def _any_signature() -> list[Parameter]:
    """Every parameter any operation declares (a name has the same type in each)."""
    seen: dict[str, Parameter] = {}
    for op in OPERATIONS.values():
        for p in op.parameters:
            known = seen.setdefault(p.name, p)
            if (known.type, known.repeats) != (p.type, p.repeats):
                raise ValueError(f"{p.name} is declared twice, differently: {known} and {p}")
    return list(seen.values())


ANY = Signature(_any_signature())
ANY_PART = Signature([])       # parts: only their structure is checked
SIGNATURES: dict[tuple[str, str], Signature] = {key: Signature(op.parameters) for key, op in OPERATIONS.items()}


def signature(operation: Operation) -> Signature:
    return SIGNATURES[(operation.resource, operation.name)]
