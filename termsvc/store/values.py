"""How concept properties and designations are kept in the store's text columns, both ways."""
from typing import Any

import orjson

# concept_property.type -> the FHIR value key
PROPERTY_TYPES: dict[str | None, str] = {"Code": "valueCode", "Coding": "valueCoding", "String": "valueString",
                  "Integer": "valueInteger", "Boolean": "valueBoolean", "DateTime": "valueDateTime",
                  "Decimal": "valueDecimal"}


def property_text(value: object) -> str | None:
    """A concept property value as text: Codings as 'system|code', booleans as true/false."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if "code" in value:
            return f"{value.get('system', '')}|{value['code']}"
        return orjson.dumps(value).decode()
    return str(value)


def typed_value(type_name: str | None, text: str | None) -> str | bool | float | dict[str, str] | None:
    """The FHIR value of a stored property (the inverse of property_text for its type)."""
    if text is None:
        return None
    if type_name == "Boolean":
        return text == "true"
    if type_name == "Integer":
        try:
            return int(text)
        except ValueError:
            return text
    if type_name == "Decimal":
        try:
            return float(text)
        except ValueError:
            return text
    if type_name == "Coding":
        system, _, code = text.partition("|")
        return {"system": system, "code": code} if system else {"code": code}
    return text


def property_dict(code: str, type_name: str | None, text: str | None) -> dict[str, Any]:
    """A FHIR CodeSystem.concept.property from a stored row."""
    return {"code": code, PROPERTY_TYPES.get(type_name, "valueString"): typed_value(type_name, text)}


def designation_dict(language: str | None, use_system: str | None, use_code: str | None, use_display: str | None,
                     value: str) -> dict[str, Any]:
    """A FHIR designation from a stored row."""
    d: dict[str, Any] = {}
    if language:
        d["language"] = language
    if use_system or use_code:
        d["use"] = {k: v for k, v in (("system", use_system), ("code", use_code), ("display", use_display)) if v}
    d["value"] = value
    return d
