"""Pre-expansion: every stored value set is expanded at build time (where
affordable) into the `expansion` table, so that a page of a large expansion or
a text filter over it is an indexed read (termsvc/ops/sqlpath.py). A rebuild
recomputes them all: a served pre-expansion is never older than the content it
came from.
"""
import orjson

from termsvc.fhir.outcome import OpError
from termsvc.ops.compose import Composer
from termsvc.ops.context import Context

PREEXPAND_MAX = 2_000_000


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
