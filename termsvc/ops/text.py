"""The `filter` parameter of $expand: every word of the query must start a word of the display,
the code or a designation, case- and accent-insensitive. The same words make the FTS5 query of
the SQL paths (`fts_query`), so both paths agree.
"""
import re
import unicodedata

from termsvc import deadline
from termsvc.ops.members import Member

WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """The words of a text, lower case, accents removed."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return WORD.findall(folded.lower())


def text_matches(query_words: list[str], text: str | None) -> bool:
    if not text:
        return False
    found = words(text)
    return all(any(w.startswith(q) for w in found) for q in query_words)


def text_filter(members: list[Member], query: str) -> list[Member]:
    """The members (compose.Member) whose display (the value set's and the code system's), code or a
    designation (the code system's and the value set's) matches the query."""
    wanted = words(query)
    if not wanted:
        return members
    out: list[Member] = []
    for m in deadline.bounded(members):
        texts = [m.display, m.code] + [d.get("value") for d in m.designations or ()]
        if m.concept is not None and m.cs is not None:
            texts += [m.concept.display] + [d.get("value") for d in m.cs.designations(m.concept)]
        if any(text_matches(wanted, t) for t in texts):
            out.append(m)
    return out


def fts_query(text: str) -> str | None:
    """An FTS5 query: every word of the text as a prefix."""
    found = words(text)
    if not found:
        return None
    return " ".join('"' + w.replace('"', '') + '"*' for w in found)
