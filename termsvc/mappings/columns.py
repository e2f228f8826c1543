"""The columns of a mapping table: their names, the other names terminologists give them, and which header of a
sheet is which column (see mappings_csv/README.md, Columns)."""
import re

from termsvc.mappings.reading import canonical_header

KNOWN_COLUMNS = ["source_system", "source_code", "source_display", "target_system", "target_code",
                 "target_display", "relationship", "no_map", "status", "comment", "author",
                 "reviewer", "status_date", "depends_on"]
REQUIRED_COLUMNS = ["source_code"]
# other headers terminologists give the known columns (canonical: lower case, blanks as `_`)
COLUMN_ALIASES = {
    "source_code": ["sourcecode", "local_code", "localcode", "code_local"],
    "source_display": ["sourcedisplay", "source_name", "source_term", "source_description", "local_display",
                       "local_name", "local_term", "local_description"],
    "source_system": ["sourcesystem", "local_system"],
    "target_system": ["targetsystem"],
    "target_code": ["targetcode", "eu_code"],
    "target_display": ["targetdisplay", "target_name", "target_term", "target_description", "eu_display", "eu_term"],
    "relationship": ["equivalence", "map_relationship", "mapping_relationship", "relation"],
    "no_map": ["nomap", "no_mapping"],
    "comment": ["comments", "note", "notes", "remark", "remarks"],
    "depends_on": ["dependson", "condition", "conditions"],
}
_ALIAS_OF = {alias: column for column, aliases in COLUMN_ALIASES.items() for alias in aliases}
SOURCE_CODE_HEADERS = ["source_code", *COLUMN_ALIASES["source_code"]]   # (the header row names one)


def known_columns(headers) -> dict[str, str]:
    """known column -> the header that names it: by its name (`Source Code`), else by the one usual other name
    given (`Local code`). A header naming a column that another header names too stays an extra column
    (`Notes` beside `comment`)."""
    found: dict[str, str] = {}
    for h in headers:
        found.setdefault(canonical_header(h), h)
    found = {c: h for c, h in found.items() if c in KNOWN_COLUMNS}
    by_alias: dict[str, list] = {}
    for h in headers:
        c = _ALIAS_OF.get(canonical_header(h))
        if c and c not in found:
            by_alias.setdefault(c, []).append(h)
    return found | {c: hs[0] for c, hs in by_alias.items() if len(hs) == 1}


# words of a header that say its cells are codes (`SNOMED CT code`, `Concept ID`, `SCTID`)
CODE_WORDS = {"code", "codes", "id", "sctid", "conceptid", "concept_id", "loinc_num"}


def unnamed_target(headers, known: dict[str, str]) -> str | None:
    """The one header left an extra column that looks like the target code column (`SNOMED CT code`), when the
    table has no target_code column and no source-side header is it."""
    if "target_code" in known:
        return None
    taken = set(known.values())
    words = {h: re.split(r"[\W_]+", canonical_header(h)) for h in headers if h not in taken}
    likely = [h for h, w in words.items() if w[0] not in ("source", "local") and CODE_WORDS & set(w)]
    return likely[0] if len(likely) == 1 else None
