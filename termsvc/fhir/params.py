"""Operation parameters: from a query string or a Parameters resource into one shape.

Each parameter keeps its FHIR value key (valueBoolean, valueCode, ...) so an
operation can echo it as it was sent. Query-string values get the type the
OperationDefinitions give that parameter name.
"""
from dataclasses import dataclass

from termsvc.fhir import messages

BOOLEAN = {"activeOnly", "includeDesignations", "includeDefinition", "excludeNested", "excludeNotForUI",
           "excludePostCoordinated", "limitedExpansion", "abstract", "inferSystem", "lenient-display-validation",
           "default-to-latest-version", "reverse", "incomplete-ok", "includeAncestors", "_incomplete",
           "diagnostics", "valueset-membership-only", "membershipOnly", "check-system-version-strict",
           "versionsMatch"}
INTEGER = {"count", "offset"}
URI = {"url", "system", "context", "valueSet", "conceptMap", "source", "target", "targetsystem", "targetSystem",
       "sourceSystem", "sourceScope", "targetScope", "system-version", "check-system-version",
       "force-system-version", "useSupplement", "sourceCanonical", "default-valueset-version"}
CODE = {"code", "displayLanguage", "codeA", "codeB", "sourceCode", "targetCode", "property", "mode"}
STRING_DEFAULT = "valueString"
MAX_INT = 2**31 - 1  # FHIR integer


def _key_for(name: str) -> str:
    if name in BOOLEAN:
        return "valueBoolean"
    if name in INTEGER:
        return "valueInteger"
    if name in URI:
        return "valueUri"
    if name in CODE:
        return "valueCode"
    return STRING_DEFAULT


@dataclass(slots=True)
class Param:
    """One parameter: its value (with the FHIR value key it came with), resource or parts."""
    name: str
    key: str | None = None
    value: object = None
    resource: dict | None = None
    part: list | None = None


class Params:
    def __init__(self, items: list[Param] | None = None):
        self.items = items or []

    @property
    def items(self) -> list[Param]:
        return self._items

    @items.setter
    def items(self, items: list[Param]):
        self._items = items
        index = {}   # the first parameter of each name
        for p in items:
            index.setdefault(p.name, p)
        self._by_name = index

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_query(cls, pairs) -> "Params":
        items = []
        for name, raw in pairs:
            key = _key_for(name)
            value = raw
            if key == "valueBoolean":
                low = raw.strip().lower()
                if low not in ("true", "false"):
                    raise messages.error("param-boolean", name=name, value=f", not '{raw}'")
                value = low == "true"
            elif key == "valueInteger":
                try:
                    value = int(raw)
                except ValueError:
                    raise messages.error("param-integer", name=name, value=raw)
                if not -MAX_INT <= value <= MAX_INT:
                    raise messages.error("param-range", name=name, value=raw)
            elif name in ("coding", "sourceCoding", "targetCoding", "codingA", "codingB"):
                key, value = "valueCoding", _coding_from_token(raw)
            items.append(Param(name, key, value))
        return cls(items)

    @classmethod
    def from_resource(cls, body: dict) -> "Params":
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            rt = body.get("resourceType") if isinstance(body, dict) else None
            raise messages.error("body-not-parameters", type=rt or "something else")
        items = []
        parameters = body.get("parameter") or []
        if not isinstance(parameters, list):
            raise messages.error("param-not-array")
        for p in parameters:
            if not isinstance(p, dict) or "name" not in p:
                raise messages.error("param-no-name")
            key = next((k for k in p if k.startswith("value")), None)
            if p.get("resource") is not None and not isinstance(p["resource"], dict):
                raise messages.error("param-resource", name=p["name"])
            if p.get("part") is not None and not isinstance(p["part"], list):
                raise messages.error("param-part", name=p["name"])
            items.append(Param(p["name"], key, p.get(key) if key else None, p.get("resource"), p.get("part")))
        return cls(items)

    # -- access ---------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self._by_name

    def first(self, name: str) -> Param | None:
        return self._by_name.get(name)

    def get(self, name: str, default=None):
        p = self._by_name.get(name)
        if p is None:
            return default
        return p.resource if p.resource is not None else p.value

    def all(self, name: str) -> list:
        if name not in self._by_name:
            return []
        return [p.resource if p.resource is not None else p.value for p in self._items if p.name == name]

    def str(self, name: str, default=None):
        p = self._by_name.get(name)
        v = default if p is None else (p.resource if p.resource is not None else p.value)
        if v is not None and not isinstance(v, str):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, (int, float)):
                return str(v)
            raise messages.error("param-simple", name=name)
        return v

    def bool(self, name: str, default: bool = False) -> bool:
        p = self._by_name.get(name)
        v = None if p is None else (p.resource if p.resource is not None else p.value)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise messages.error("param-boolean", name=name, value="")

    def int(self, name: str, default=None):
        v = self.get(name)
        if v is None:
            return default
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise messages.error("param-integer", name=name, value=v)
        if n > MAX_INT:
            raise messages.error("param-range", name=name, value=v)
        if n < 0:
            raise messages.error("param-negative", name=name)
        return n

    def resources(self, name: str) -> list[dict]:
        if name not in self._by_name:
            return []
        return [p.resource for p in self._items if p.name == name and isinstance(p.resource, dict)]


def _coding_from_token(raw: str) -> dict:
    """'system|code' (or a bare code) from a query string as a Coding."""
    if "|" in raw:
        system, code = raw.split("|", 1)
        out = {"code": code}
        if system:
            out["system"] = system
        return out
    return {"code": raw}

