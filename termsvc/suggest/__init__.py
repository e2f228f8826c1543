"""Mapping suggestions: ranked candidate codes for the local codes of a mapping table, in the
languages European departments write, offline - a service over the engine (never a second one).

- candidates: the table's target scope, expanded by the engine's $expand with every designation
  in every language loaded (candidates.py), indexed (store.textindex: SQLite FTS5 in memory);
- words: a curated multilingual lexicon shipped as data (lexicon/*.csv, one file per language;
  a department adds its own in `<mappings folder>/lexicon/`), Snowball stemming, accent folding,
  German/Dutch compounds and misspellings (lexicon.py, text.py);
- ranking: the translated words against each designation, weighted by rarity, re-scored by string
  similarity (rapidfuzz), with agreement of the parsed parts of a procedure name (rank.py, parts.py);
- evidence: the accepted rows of every loaded table propose their target first, rejected rows count
  against (evidence.py);
- service.py ties them to a table; evaluate.py measures a ranking against gold files, beside a
  character-trigram TF-IDF baseline (baseline.py); write.py writes the suggestions back as a table.
"""
