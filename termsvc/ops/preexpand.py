"""Pre-expansion: every stored value set is expanded at build time (where
affordable) into the `expansion` table, so that a page of a large expansion or
a text filter over it is an indexed read. A rebuild recomputes them all: a
served pre-expansion is never older than the content it came from.
"""
import orjson

from termsvc.fhir.outcome import OpError
from termsvc.ops.codesystems import Concept
from termsvc.ops.compose import Composer, Member
from termsvc.ops.context import Context

PREEXPAND_MAX = 2_000_000
FAST_PATH_MIN = 1000   # smaller expansions go through the Composer (hierarchical output)


class _BuildStore:
    """The few Store methods the engine needs, over the connection of a build in progress."""

    def __init__(self, conn):
        self._conn = conn
        self.generation = -id(conn)

    def conn(self):
        return self._conn

    def one(self, sql, params=()):
        return self._conn.execute(sql, params).fetchone()

    def all(self, sql, params=()):
        return self._conn.execute(sql, params).fetchall()

    def resource_json(self, rid):
        row = self.one("SELECT json FROM resource WHERE id=?", (rid,))
        return orjson.loads(row[0]) if row else None


def preexpand_all(writer, progress) -> dict:
    store = _BuildStore(writer.conn)
    ctx = Context(store)
    counts = {"done": 0, "too-large": 0, "error": 0}
    rows = store.all("SELECT id FROM value_set ORDER BY id")
    for (vs_id,) in rows:
        vs = store.resource_json(vs_id)
        composer = Composer(ctx, max_size=PREEXPAND_MAX)
        try:
            members = composer.members(vs)
        except OpError as e:
            state = "too-large" if e.status == 422 else "error: " + e.text[:200]
            writer.conn.execute("UPDATE value_set SET expansion_state=? WHERE id=?", (state, vs_id))
            counts["too-large" if e.status == 422 else "error"] += 1
            continue
        except Exception as e:  # a broken definition must not fail the build
            writer.conn.execute("UPDATE value_set SET expansion_state=? WHERE id=?",
                                ("error: " + str(e)[:200], vs_id))
            counts["error"] += 1
            continue
        batch = [(vs_id, i, m.system, m.version, m.code, m.display,
                  m.concept.cid if m.concept is not None else None, int(m.inactive), int(m.abstract), None)
                 for i, m in enumerate(members)]
        writer.conn.executemany("INSERT INTO expansion VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
        used = list(composer.used_codesystems)
        writer.conn.execute("UPDATE value_set SET expansion_state='done', expansion_total=?, used_systems=?"
                            " WHERE id=?", (len(members), orjson.dumps(used).decode(), vs_id))
        counts["done"] += 1
    progress(f"  pre-expanded {counts['done']} value sets ({counts['too-large']} too large,"
             f" {counts['error']} not expandable)")
    return counts


def _fts_query(text: str) -> str | None:
    from termsvc.ops.expand import _WORD, _fold
    words = _WORD.findall(_fold(text))
    if not words:
        return None
    return " ".join('"' + w.replace('"', '') + '"*' for w in words)


def stored_expansion(ctx, vs: dict, opts, max_size: int | None = None):
    """(members of the requested page, total, used code systems) from the pre-expansion, or None
    when the value set has none or the request is better served by the Composer."""
    vs_id = ctx.stored_value_set_id(vs)
    store = ctx.store
    row = store.one("SELECT expansion_state, expansion_total, used_systems FROM value_set WHERE id=?", (vs_id,))
    if row is None or row[0] != "done":
        return None
    total_all = row[1]
    paged = opts.count is not None or opts.offset
    if total_all < FAST_PATH_MIN and not opts.filter:
        return None
    where = ["e.vs_id=?"]
    args = [vs_id]
    if opts.active_only:
        where.append("e.inactive=0")
    if opts.exclude_not_for_ui:
        where.append("e.abstract=0")
    if opts.filter:
        q = _fts_query(opts.filter)
        if q:
            where.append("e.concept_id IN (SELECT concept_id FROM concept_fts WHERE concept_fts MATCH ?)")
            args.append(q)
    filtered = len(where) > 1
    cond = " AND ".join(where)
    cols = ("e.system, e.version, e.code, e.display, e.concept_id, e.inactive, e.abstract, c.definition, c.status,"
            " c.display")
    if filtered:
        # The positions of the matching members, in one pass over the index on (concept_id, vs_id)
        # driven by the FTS hits (covering: seq is part of the key), then the page by position.
        # (`ORDER BY seq LIMIT/OFFSET` over the join would walk the whole expansion in seq order.)
        seqs = sorted(r[0] for r in store.all(f"SELECT e.seq FROM expansion e WHERE {cond}", args))
        total = len(seqs)
        count = opts.count if opts.count is not None else total
        if not paged and max_size and total > max_size:
            return None  # let the caller apply its size limit
        page = seqs[opts.offset:opts.offset + count]
        rows = store.all(f"SELECT {cols} FROM expansion e LEFT JOIN concept c ON c.id = e.concept_id"
                                 " WHERE e.vs_id=? AND e.seq IN (SELECT value FROM json_each(?)) ORDER BY e.seq",
                                 (vs_id, orjson.dumps(page).decode())) if page else []
    else:  # keyset: seq is the position in the expansion
        total = total_all
        count = opts.count if opts.count is not None else total
        if not paged and max_size and total > max_size:
            return None  # let the caller apply its size limit
        rows = store.all(f"SELECT {cols} FROM expansion e LEFT JOIN concept c ON c.id = e.concept_id"
                                 " WHERE e.vs_id=? AND e.seq >= ? ORDER BY e.seq LIMIT ?", (vs_id, opts.offset, count))
    members = []
    providers = {}
    stored_concepts = []
    for system, version, code, display, cid, inactive, abstract, definition, status, cdisplay in rows:
        key = (system, version)
        if key not in providers:
            providers[key] = ctx.code_system(system, version)
        concept = None
        if cid is not None:
            concept = Concept(code, cdisplay, definition, status, inactive, abstract, cid=cid)
            stored_concepts.append(concept)
        m = Member(system, version, code, display, concept, providers[key])
        m.inactive, m.abstract = bool(inactive), bool(abstract)
        members.append(m)
    if stored_concepts:
        prefetch_designations(store, stored_concepts)
    return members, total, orjson.loads(row[2] or "[]")


def prefetch_designations(store, concepts):
    """Load the designations of a page of stored concepts in one query (what
    StoredCodeSystem.designations would otherwise read concept by concept)."""
    by_id = {}
    for c in concepts:
        if c._designations is None:
            by_id.setdefault(c.cid, []).append(c)
            c._designations = []
    if not by_id:
        return
    from termsvc.ops.codesystems import designation_dict
    for cid, lang, us, uc, ud, value in store.all(
            "SELECT concept_id, language, use_system, use_code, use_display, value FROM designation"
            " WHERE concept_id IN (SELECT value FROM json_each(?)) ORDER BY concept_id, rowid",
            (orjson.dumps(list(by_id)).decode(),)):
        for c in by_id[cid]:
            c._designations.append(designation_dict(lang, us, uc, ud, value))
