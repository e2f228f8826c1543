"""Normalising words on both sides of a match: folding (unidecode), tokens, Snowball stems."""
import functools
import re

import Stemmer
from unidecode import unidecode

# the languages the shipped lexicon speaks, in the order they are tried when a name's language is unknown
# (la: the Latin anatomical names every language writes)
LANGUAGES = ("es", "de", "fr", "it", "nl", "pl", "pt", "sv", "da", "fi", "en", "la")
SNOWBALL = {"es": "spanish", "de": "german", "fr": "french", "it": "italian", "nl": "dutch", "pl": "polish",
            "pt": "portuguese", "en": "english", "da": "danish", "sv": "swedish", "nb": "norwegian",
            "no": "norwegian", "fi": "finnish", "ca": "catalan", "ro": "romanian", "hu": "hungarian",
            "cs": "czech", "el": "greek", "lt": "lithuanian", "et": "estonian"}
# endings the Snowball stems leave apart -> the ending of the form the lexicon lists (read as lexicon.PLURALS): the
# Swedish and Danish definite and plural forms (lungorna, njurarna; lungerne, skulderen), Finnish cases (maksassa,
# keuhkojen, munuaisten); a Finnish stem that changes (polvi/polven, lanneranka/lannerangan) is listed in fi.csv
ENDINGS = {"sv": (("orna", "a"), ("arna", "e"), ("arna", ""), ("erna", ""), ("na", ""), ("or", "a"), ("ar", "e"),
                  ("ar", ""), ("er", ""), ("en", ""), ("et", ""), ("n", ""), ("t", "")),
           "da": (("erne", "e"), ("erne", ""), ("ene", "e"), ("ene", ""), ("er", "e"), ("er", ""), ("en", ""),
                  ("et", ""), ("e", ""), ("n", ""), ("t", "")),
           "fi": (("iden", ""), ("ien", "i"), ("jen", "t"), ("ten", "et"), ("ssa", ""), ("sta", ""), ("lla", ""),
                  ("lta", ""), ("lle", ""), ("ksi", ""), ("na", ""), ("n", ""), ("t", ""))}
# the languages that write a finding of a region as one word, read as that region (`Lungenembolie`, `lungemboli`)
FINDING_COMPOUNDS = ("de", "nl", "sv", "da", "fi")
TOKEN = re.compile(r"[a-z0-9]+")
ASIDE_TOKEN = re.compile(r"[a-z0-9]+|[()\[\],;]")
SEMANTIC_TAG = re.compile(r"\s*\([^()]*\)\s*$")   # SNOMED CT's "(body structure)"


def fold(text: str) -> str:
    """Lower case, accents and other letters transliterated to ASCII (Ä -> a, ß -> ss, ł -> l)."""
    return unidecode(text or "").lower()


def tokens(text: str) -> list[str]:
    """The words of a text, folded: punctuation separates (`C-SPINE` -> c, spine; `li.` -> li); a plus
    is a word (`CT THORAX C+` -> ct, thorax, c, plus: the lexicon reads `c plus` as with contrast)."""
    return TOKEN.findall(fold(text).replace("+", " plus "))


def asides(text: str) -> list[set[str]]:
    """The words of each aside of a text - a bracket, or a part of one between commas - that the text
    does not also write outside brackets (`US gallbladder (RUQ pain)` -> [{ruq, pain}])."""
    groups: list[set[str]] = []
    outside: set[str] = set()
    depth = 0
    current: set[str] | None = None
    for m in ASIDE_TOKEN.finditer(fold(text).replace("+", " plus ")):
        t = m.group()
        if t in "([":
            depth += 1
            current = set()
            groups.append(current)
        elif t in ")]":
            depth = max(0, depth - 1)
            current = None
        elif t in ",;":
            if depth:
                current = set()
                groups.append(current)
        elif depth and current is not None:
            current.add(t)
        else:
            outside.add(t)
    return [g - outside for g in groups if g - outside]


def language_code(tag: str | None) -> str | None:
    """`de-AT` -> `de`; None for no tag."""
    return tag.split("-")[0].lower() if tag else None


@functools.cache
def _stemmer(language: str):
    name = SNOWBALL.get(language)
    return Stemmer.Stemmer(name) if name else None


@functools.lru_cache(maxsize=200_000)
def stem(language: str | None, word: str) -> str:
    """The Snowball stem of a folded word in a language (English when the language has no stemmer);
    numbers and words of two letters stay as they are."""
    if len(word) <= 2 or word.isdigit():
        return word
    s = _stemmer(language or "en") or _stemmer("en")
    return s.stemWord(word)


def strip_semantic_tag(text: str) -> str:
    return SEMANTIC_TAG.sub("", text) if text.endswith(")") else text
