"""An in-memory full-text index of short texts (the designations of a value set's codes), for
finding the few texts a query's words occur in among many (SQLite FTS5, bm25 ranking).

    index = TextIndex()
    index.add_many([(7, "abdomen aort")])     # documents: their ids and words, already normalised
    index.search(["aort", "thorax"], 200)     # [(doc id, bm25)] best first: any of the words

The caller normalises (folding, stemming) both sides the same way: the index only splits on
blanks (FTS5 `unicode61` with no diacritics removal left to do).
"""
import sqlite3
from collections.abc import Iterable


class TextIndex:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE VIRTUAL TABLE doc USING fts5(words, tokenize = \"unicode61 remove_diacritics 0\")")
        self.size = 0

    def add_many(self, docs: Iterable[tuple[int, str]]) -> None:
        """docs: (id, words) pairs."""
        rows = [(i, w) for i, w in docs]
        self.db.executemany("INSERT INTO doc(rowid, words) VALUES (?, ?)", rows)
        self.size += len(rows)

    def search(self, words: Iterable[str], limit: int) -> list[tuple[int, float]]:
        """The documents holding any of the words (whole words), best (most, rarest) first."""
        terms = sorted({w for w in words if w and w.replace("_", "").isalnum()})
        if not terms:
            return []
        query = " OR ".join('"' + t + '"' for t in terms)
        found: list[tuple[int, float]] = self.db.execute(
            "SELECT rowid, bm25(doc) FROM doc WHERE doc MATCH ? ORDER BY bm25(doc) LIMIT ?", (query, limit)).fetchall()
        return found

    def close(self) -> None:
        self.db.close()
