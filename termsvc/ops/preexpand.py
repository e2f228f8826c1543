"""Pre-expansion: every stored value set is expanded at build time (where
affordable) into the `expansion` table, so that a page of a large expansion or
a text filter over it is an indexed read (termsvc/ops/sqlpath.py). A rebuild
recomputes them all: a served pre-expansion is never older than the content it
came from.
"""
from collections.abc import Callable

from termsvc.fhir.outcome import OpError, TooCostly
from termsvc.ops.codesystems import Concept
from termsvc.ops.compose import Composer
from termsvc.ops.members import Member
from termsvc.ops.context import Context
from termsvc.store.writer import BuildWriter

PREEXPAND_MAX = 2_000_000


def own_texts(members: list[Member]) -> list[tuple[int, str]]:
    """(seq, text) of what the members show that their stored concepts' text index does not hold:
    the value set's own displays and designations, the displays of codes with no stored concept."""
    out: list[tuple[int, str]] = []
    for seq, m in enumerate(members):
        if m.display and (m.concept is None or m.display != m.concept.display):
            out.append((seq, m.display))
        out += [(seq, d["value"]) for d in m.designations or () if d.get("value")]
    return out


def preexpand_all(writer: BuildWriter, progress: Callable[[str], object]) -> dict[str, int]:
    store = writer.reader()
    ctx = Context(store)
    counts = {"done": 0, "too-large": 0, "error": 0}
    for vs_id in store.value_set_ids():
        vs = store.resource_json(vs_id)
        assert vs is not None   # (a value set's row and its resource are written together)
        composer = Composer(ctx, max_size=PREEXPAND_MAX)
        try:
            members = composer.members(vs)
        except TooCostly:
            writer.set_expansion_state(vs_id, "too-large")
            counts["too-large"] += 1
            continue
        except Exception as e:  # a broken definition must not fail the build
            writer.set_expansion_state(vs_id, "error", (e.text if isinstance(e, OpError) else str(e))[:200])
            counts["error"] += 1
            continue
        writer.set_expansion(vs_id, [(m.system, m.version, m.code, m.display,
                                      m.concept.cid if isinstance(m.concept, Concept) else None, int(m.inactive),
                                      int(m.abstract)) for m in members], list(composer.used_codesystems),
                             own_texts(members))
        counts["done"] += 1
    progress(f"  pre-expanded {counts['done']} value sets ({counts['too-large']} too large,"
             f" {counts['error']} not expandable)")
    return counts
