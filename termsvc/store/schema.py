"""The content store's schema, created with sqlite-utils.

One database file holds one build. Concept ids are global integers so that
hierarchy, closure, designations, properties, the FTS index and pre-expansions
can refer to a concept without repeating its code system.
"""
import sqlite_utils

SCHEMA_VERSION = 4

FTS_TOKENIZER = "unicode61 remove_diacritics 2"

# `resource.type` of a complete mapping table (every row, as an R5 ConceptMap): kept for export,
# not indexed or served as a ConceptMap
MAPPING_TABLE_TYPE = "MappingTable"
# `resource.type` of a mapping table's report (its problems, coverage, rows served) as the build judged it
MAPPING_REPORT_TYPE = "MappingReport"
# `resource.type` of a code system's NamingSystem (its OID and URIs), not served
NAMING_SYSTEM_TYPE = "NamingSystem"


def create_schema(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("source").create(
        {"id": int, "name": str, "kind": str, "version": str, "location": str,
         "sha256": str, "loaded_at": str, "counts": str},
        pk="id",
    )
    # Every canonical resource, with its JSON as loaded (CodeSystem JSON without
    # its concept tree: the concepts live in the concept tables). `endpoint`: the one endpoint
    # ("R4" or "R5") that serves it by id (an edition of the IG), NULL for both; `fhir_id` is
    # unique per endpoint and type (the build renames the ones that collide).
    db.table("resource").create(
        {"id": int, "type": str, "fhir_id": str, "url": str, "version": str, "name": str,
         "title": str, "status": str, "source_id": int, "fhir_version": str, "endpoint": str, "json": str},
        pk="id",
    )
    db.table("resource").create_index(["type", "url"])
    db.table("resource").create_index(["type", "fhir_id"])
    db.table("resource").create_index(["type", "name"])
    db.table("code_system").create(
        {"id": int, "url": str, "version": str, "content": str, "case_sensitive": int,
         "hierarchy_meaning": str, "supplements": str, "language": str, "concept_count": int},
        pk="id",
    )
    db.table("code_system").create_index(["url"])
    db.table("concept").create(
        {"id": int, "cs_id": int, "code": str, "display": str, "definition": str,
         "status": str, "inactive": int, "abstract": int, "seq": int},
        pk="id",
    )
    db.execute("CREATE UNIQUE INDEX idx_concept_code ON concept(cs_id, code)")
    db.execute("CREATE INDEX idx_concept_code_nocase ON concept(cs_id, code COLLATE NOCASE)")
    db.execute("CREATE INDEX idx_concept_seq ON concept(cs_id, seq)")
    db.table("designation").create(
        {"concept_id": int, "language": str, "use_system": str, "use_code": str,
         "use_display": str, "value": str},
    )
    db.table("designation").create_index(["concept_id"])
    db.table("concept_property").create({"concept_id": int, "code": str, "type": str, "value": str})
    db.table("concept_property").create_index(["concept_id"])
    db.table("concept_property").create_index(["code", "value"])
    # direct is-a edges and their transitive closure (strict: no self rows)
    db.table("edge").create({"parent_id": int, "child_id": int})
    db.table("edge").create_index(["parent_id", "child_id"])  # children in load order, from the index alone
    db.table("edge").create_index(["child_id", "parent_id"])
    db.execute("CREATE TABLE closure (ancestor_id INTEGER, descendant_id INTEGER,"
               " PRIMARY KEY (ancestor_id, descendant_id)) WITHOUT ROWID")
    db.execute("CREATE INDEX idx_closure_desc ON closure(descendant_id, ancestor_id)")
    db.execute("CREATE VIRTUAL TABLE concept_fts USING fts5(text, concept_id UNINDEXED,"
               f" tokenize=\"{FTS_TOKENIZER}\")")
    db.table("value_set").create(
        # expansion_state: pending | done | too-large | error (the reason in expansion_error)
        {"id": int, "url": str, "version": str, "expansion_state": str, "expansion_error": str, "expansion_total": int,
         "used_systems": str},
        pk="id",
    )
    db.table("value_set").create_index(["url"])
    # pre-expansions: one row per member, in expansion order
    db.execute(
        "CREATE TABLE expansion (vs_id INTEGER, seq INTEGER, system TEXT, version TEXT,"
        " code TEXT, display TEXT, concept_id INTEGER, inactive INTEGER, abstract INTEGER,"
        " parent_seq INTEGER, PRIMARY KEY (vs_id, seq)) WITHOUT ROWID")
    db.execute("CREATE INDEX idx_expansion_code ON expansion(vs_id, system, code)")
    db.execute("CREATE INDEX idx_expansion_concept ON expansion(concept_id, vs_id)")
    # the texts an expansion shows that its concepts' index does not hold: the value set's own
    # displays and designations, the displays of members with no stored concept (text filters)
    db.execute("CREATE VIRTUAL TABLE expansion_fts USING fts5(text, vs_id UNINDEXED, seq UNINDEXED,"
               f" tokenize=\"{FTS_TOKENIZER}\")")
    db.table("concept_map").create(
        {"id": int, "url": str, "version": str, "source_scope": str, "target_scope": str},
        pk="id",
    )
    db.table("concept_map").create_index(["url"])
    # one row per (element, target) - or per element when it has no target -
    # pointing into the ConceptMap JSON: the index $translate searches
    db.table("cm_entry").create(
        {"cm_id": int, "group_idx": int, "element_idx": int, "target_idx": int,
         "source_system": str, "source_code": str, "target_system": str, "target_code": str},
    )
    db.table("cm_entry").create_index(["source_system", "source_code"])
    db.table("cm_entry").create_index(["target_system", "target_code"])
    db.table("cm_entry").create_index(["source_code"])
    db.table("cm_entry").create_index(["target_code"])
    # reference set membership (SNOMED CT refsets, LOINC groups...): the `in` filter
    db.table("refset_member").create({"refset": str, "cs_id": int, "concept_id": int})
    db.table("refset_member").create_index(["refset", "concept_id"])
    db.table("refset_member").create_index(["concept_id"])
    # the elements of the base resources and data types (StructureDefinitions that specialize, of the
    # FHIR core packages loaded): their types, where a contentReference points, and their binding -
    # what `termsvc check-resource` walks a resource with
    db.table("element_def").create({"source_id": int, "fhir_version": str, "path": str, "types": str, "content_ref": str,
                              "strength": str, "value_set": str})
    db.table("element_def").create_index(["fhir_version", "path"])
    db.table("meta").insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
