import sqlite3

import pytest

from termsvc.ops.ecl import evaluate, parse
from termsvc.store.writer import BuildWriter

# root 1000
# ├── 2000 imaging ── 2100 CT ── 2110 CT chest ──┐
# │               ├── 2200 MR ── 2210 MR head    ├── 2300 CT-MR fusion (two parents: 2100, 2200)
# │               └── 2400 inactive (no edges)
# └── 3000 body ── 3100 arm, 3200 leg
EDGES = [("1000", "2000"), ("2000", "2100"), ("2100", "2110"), ("2000", "2200"), ("2200", "2210"),
         ("2100", "2300"), ("2200", "2300"), ("1000", "3000"), ("3000", "3100"), ("3000", "3200")]
CODES = ["1000", "2000", "2100", "2110", "2200", "2210", "2300", "2400", "3000", "3100", "3200", "9000"]
REFSET = [("9000", "3100"), ("9000", "3200"), ("9000", "2110")]


def P(c: str) -> str:
    """Codes are padded to six digits (SCTIDs have 6-18 digits)."""
    return c + "00"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ecl") / "ecl.db")
    with BuildWriter(path) as w:
        sid = w.add_source("test", "snomed", None, None, None)
        cs = w.begin_code_system({"resourceType": "CodeSystem", "url": "http://snomed.info/sct",
                                  "version": "x", "content": "complete"}, sid)
        ids = w.insert_concepts(cs, [(P(c), c, None, "inactive" if c == "2400" else "active",
                                      c == "2400", False) for c in CODES])
        by = dict(zip(CODES, ids))
        w.insert_edges((by[p], by[c]) for p, c in EDGES)
        w.insert_refset_members([(P(r), cs, by[c]) for r, c in REFSET])
        # a second code system with the same codes must not leak in
        cs2 = w.begin_code_system({"resourceType": "CodeSystem", "url": "http://snomed.info/sct",
                                   "version": "y", "content": "complete"}, sid)
        ids2 = w.insert_concepts(cs2, [(P(c), c, None, "active", False, False) for c in CODES])
        w.insert_edges([(ids2[0], ids2[1])])
        w.end_code_system(cs)
        w.end_code_system(cs2)
        w.finalize()
    conn = sqlite3.connect(path)
    yield conn, cs
    conn.close()


def ev(store, expr):
    conn, cs = store
    ids = evaluate(conn, cs, expr)
    return {r[0][:-2] for r in conn.execute(
        "SELECT code FROM concept WHERE id IN (%s)" % ",".join(map(str, ids)))} if ids else set()


@pytest.mark.parametrize("expr,expected", [
    ("200000", {"2000"}),
    ("200000 |Imaging|", {"2000"}),
    ("< 200000", {"2100", "2110", "2200", "2210", "2300"}),
    ("<< 200000 |Imaging|", {"2000", "2100", "2110", "2200", "2210", "2300"}),
    ("<200000", {"2100", "2110", "2200", "2210", "2300"}),
    ("> 230000", {"2100", "2200", "2000", "1000"}),
    (">> 211000", {"2110", "2100", "2000", "1000"}),
    ("<! 200000", {"2100", "2200"}),
    ("<<! 200000", {"2000", "2100", "2200"}),
    (">! 230000", {"2100", "2200"}),
    ("^ 900000", {"3100", "3200", "2110"}),
    ("^900000 |Some refset|", {"3100", "3200", "2110"}),
    ("<< 200000 MINUS 200000", {"2100", "2110", "2200", "2210", "2300"}),
    ("< 200000 minus < 210000", {"2100", "2200", "2210"}),
    ("< 210000 AND < 220000", {"2300"}),
    ("< 210000, < 220000", {"2300"}),
    ("< 210000 OR < 220000 OR 310000", {"2110", "2300", "2210", "3100"}),
    ("(< 200000 OR < 300000) AND ^ 900000", {"2110", "3100", "3200"}),
    ("<< (210000 OR 220000)", {"2100", "2110", "2200", "2210", "2300"}),
    ("< 100000 MINUS (<< 200000 OR ^ 900000)", {"3000"}),
    ("<< ^ 900000", {"3100", "3200", "2110"}),
    ("*", set(CODES) - {"2400"}),
    ("< *", {"2000", "2100", "2110", "2200", "2210", "2300", "3000", "3100", "3200"}),
    ("^ *", {"3100", "3200", "2110"}),
    ("240000", {"2400"}),          # an inactive concept by id
    ("< 240000", set()),
    ("123456789", set()),          # unknown id
])
def test_evaluate(store, expr, expected):
    assert ev(store, expr) == expected


@pytest.mark.parametrize("expr,message", [
    ("< 200000 : 260686004 = 360037004", "refinements"),
    ("< 200000 AND 300000 OR 310000", "must not be mixed"),
    ("< 200000 {{ term = \"x\" }}", "filters"),
    ("(< 200000", "missing"),
    ("", "empty"),
    ("<", "ends early"),
    ("< 200000 200000", "unexpected"),
    ("NOT 200000", "unsupported keyword"),
    ("200000.260686004", "dotted"),
])
def test_unsupported_syntax(store, expr, message):
    conn, cs = store
    with pytest.raises(ValueError, match=message):
        evaluate(conn, cs, expr)


def test_parse_tree():
    assert parse("<< 363679005 |Imaging| MINUS 363679005") == \
        ("MINUS", ("<<", ("id", "363679005")), ("id", "363679005"))


def test_on_loaded_snomed_fixture(tmp_path):
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from synthetic_releases import write_snomed_release

    from termsvc.build import Progress, SourceSpec, build
    root = write_snomed_release(str(tmp_path), generated=40)
    path = str(tmp_path / "s.db")
    build(path, [SourceSpec("snomed", root)], Progress(quiet=True), preexpand=False)
    conn = sqlite3.connect(path)
    cs = conn.execute("SELECT id FROM code_system").fetchone()[0]
    img = conn.execute("SELECT id FROM concept WHERE code='363679005'").fetchone()[0]
    below = {r[0] for r in conn.execute("SELECT descendant_id FROM closure WHERE ancestor_id=?", (img,))}
    assert evaluate(conn, cs, "<< 363679005 |Imaging| MINUS 363679005 |Imaging|") == below
    assert evaluate(conn, cs, "< 363679005") == below
    def codes(ids):
        return {r[0] for r in conn.execute("SELECT code FROM concept WHERE id IN (%s)" % ",".join(map(str, ids)))}
    assert codes(evaluate(conn, cs, "^ 723264001")) == {"53120007", "61685007", "76752008"}
    assert codes(evaluate(conn, cs, "< 91723000 AND ^ 723264001")) == {"53120007", "61685007", "76752008"}
    assert codes(evaluate(conn, cs, ">! 1287000")) == {"77477000", "363680008"}
    # language refsets are refsets too
    assert len(evaluate(conn, cs, "^ 900000000000509007")) == \
        conn.execute("SELECT count(*) FROM concept").fetchone()[0]
