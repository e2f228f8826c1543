"""How a ConceptMap group matches source codes: exactly (FHIR's rule), or - when the group carries
EXT_SOURCE_CASE_INSENSITIVE, as the groups of a mapping table whose TOML says
`source_case_sensitive = false` do - ignoring case and surrounding blanks (a PACS sends `chest`,
the table has `CHEST`). The store indexes such a group's codes folded too, and $translate folds the
code it is asked for."""
from typing import Any

EXT_SOURCE_CASE_INSENSITIVE = "http://termsvc.local/fhir/StructureDefinition/source-case-insensitive"


def fold(code: str) -> str:
    return code.strip().casefold()


def case_insensitive(group: dict[str, Any]) -> bool:
    return any(x.get("url") == EXT_SOURCE_CASE_INSENSITIVE and x.get("valueBoolean")
               for x in group.get("extension", ()) or ())
