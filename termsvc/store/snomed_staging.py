"""Temporary tables a SNOMED CT edition is staged in while it loads (termsvc/loaders/snomed.py).

Descriptions and language reference set members are too many to hold in memory (the
International Edition has 1.6M descriptions), so they are staged in SQLite, ranked there
(a display per concept, designations in dialect order) and copied into the store's tables.
The SNOMED CT concept ids the ranking needs come from the loader as arguments.
"""
import sqlite3
from collections.abc import Iterable, MutableMapping
from types import TracebackType
from typing import Literal

from termsvc.store.writer import Batched, BuildWriter

TABLES = {
    "sct_desc": "id INTEGER PRIMARY KEY, concept INTEGER, lang TEXT, type INTEGER, term TEXT, active INTEGER",
    "sct_lang": "refset INTEGER, desc INTEGER, acc INTEGER",
    "sct_map": "sctid INTEGER PRIMARY KEY, cid INTEGER",   # SCTID -> store concept id
    "sct_tag": "refset INTEGER PRIMARY KEY, tag TEXT, ord INTEGER",   # language refset -> dialect tag, order
}


class SnomedStaging:
    """`with SnomedStaging(writer) as staging:` the temporary tables exist for the block."""

    def __init__(self, writer: BuildWriter):
        self.writer = writer
        self.conn = writer.conn

    def __enter__(self) -> "SnomedStaging":
        self._drop()
        for name, columns in TABLES.items():
            self.conn.execute(f"CREATE TEMP TABLE {name} ({columns})")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        self._drop()
        return False

    def _drop(self) -> None:
        for name in TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS temp.{name}")

    # -- staging -----------------------------------------------------------------------------
    def descriptions(self, counts: MutableMapping[str, int], key: str) -> Batched:
        """rows: (description id, concept id, languageCode, typeId, term, active); a later row of
        the same id replaces an earlier one."""
        sql = "INSERT OR REPLACE INTO sct_desc VALUES (?,?,?,?,?,?)"
        return Batched(lambda rows: self.conn.executemany(sql, rows), counts, key)

    def language_members(self, counts: MutableMapping[str, int], key: str) -> Batched:
        """rows: (language refset id, description id, acceptability id) of active members."""
        return Batched(lambda rows: self.conn.executemany("INSERT INTO sct_lang VALUES (?,?,?)", rows), counts, key)

    def index(self, dialects: list[tuple[int, str | None, int]]) -> None:
        """After staging: the indexes, and (refset, dialect tag or None, order) per language refset."""
        self.conn.execute("CREATE INDEX temp.idx_sct_lang ON sct_lang(desc)")
        self.conn.execute("CREATE INDEX temp.idx_sct_desc_concept ON sct_desc(concept)")
        self.conn.executemany("INSERT INTO sct_tag VALUES (?,?,?)", dialects)

    # -- ranking -----------------------------------------------------------------------------
    def best_terms(self, ids: dict[str, int]) -> sqlite3.Cursor:
        """(concept, term, typeId) per concept: the active description ranked first of the en-US
        preferred synonym, the en-GB preferred synonym, another preferred synonym, a preferred FSN,
        another FSN, anything else; definitions excluded. `ids`: SNOMED CT ids fsn, synonym,
        definition, preferred, en_us, en_gb."""
        return self.conn.execute(
            """SELECT d.concept, d.term, d.type, min(CASE
                 WHEN d.type=:synonym AND l.refset=:en_us AND l.acc=:preferred THEN 0
                 WHEN d.type=:synonym AND l.refset=:en_gb AND l.acc=:preferred THEN 1
                 WHEN d.type=:synonym AND l.acc=:preferred THEN 2
                 WHEN d.type=:fsn AND l.acc=:preferred THEN 3
                 WHEN d.type=:fsn THEN 4 ELSE 5 END)
               FROM sct_desc d LEFT JOIN sct_lang l ON l.desc = d.id
               WHERE d.active=1 AND d.type != :definition GROUP BY d.concept""", ids)

    def best_definitions(self, ids: dict[str, int]) -> sqlite3.Cursor:
        """(concept, term) per concept: its en-US preferred text definition, else a preferred one, else any."""
        return self.conn.execute(
            """SELECT d.concept, d.term, min(CASE WHEN l.refset=:en_us AND l.acc=:preferred THEN 0
                 WHEN l.acc=:preferred THEN 1 ELSE 2 END)
               FROM sct_desc d LEFT JOIN sct_lang l ON l.desc = d.id
               WHERE d.active=1 AND d.type=:definition GROUP BY d.concept""", ids)

    # -- into the store ----------------------------------------------------------------------------
    def map_concepts(self, pairs: Iterable[tuple[int, int]]) -> None:
        """pairs: (SCTID, store concept id) of the concepts written."""
        self.conn.executemany("INSERT INTO sct_map VALUES (?,?)", pairs)

    def concept_ids(self) -> dict[int, int]:
        return dict(self.conn.execute("SELECT sctid, cid FROM sct_map"))

    def write_designations(self, system: str, ids: dict[str, int], type_names: dict[int, str]) -> int:
        """Every active description as a designation (once per language refset it is in; language
        the dialect tag, else its languageCode; use = its type), ordered per concept: refset in
        dialect order, preferred synonym, preferred FSN, acceptable, unreferenced, definitions."""
        cur = self.conn.execute(
            """INSERT INTO designation(concept_id, language, use_system, use_code, use_display, value)
               SELECT m.cid, COALESCE(t.tag, d.lang), :system, CAST(d.type AS TEXT),
                      CASE d.type WHEN :fsn THEN :fsn_name WHEN :synonym THEN :synonym_name
                                  WHEN :definition THEN :definition_name END, d.term
               FROM sct_desc d JOIN sct_map m ON m.sctid = d.concept
                    LEFT JOIN sct_lang l ON l.desc = d.id LEFT JOIN sct_tag t ON t.refset = l.refset
               WHERE d.active = 1
               ORDER BY m.cid, COALESCE(t.ord, 3), t.refset,
                        CASE WHEN d.type = :definition THEN 4
                             WHEN l.acc = :preferred AND d.type = :synonym THEN 0
                             WHEN l.acc = :preferred THEN 1
                             WHEN l.acc = :acceptable THEN 2 ELSE 3 END, d.id""",
            {**ids, "system": system, "fsn_name": type_names[ids["fsn"]],
             "synonym_name": type_names[ids["synonym"]], "definition_name": type_names[ids["definition"]]})
        return cur.rowcount

    def write_language_refset_members(self, cs_id: int) -> int:
        """A concept is a member of a language refset when one of its active descriptions is."""
        cur = self.conn.execute(
            "INSERT INTO refset_member(refset, cs_id, concept_id)"
            " SELECT DISTINCT CAST(l.refset AS TEXT), ?, m.cid FROM sct_lang l"
            " JOIN sct_desc d ON d.id = l.desc JOIN sct_map m ON m.sctid = d.concept WHERE d.active = 1",
            (cs_id,))
        return cur.rowcount
