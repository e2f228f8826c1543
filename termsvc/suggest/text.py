"""Normalising words on both sides of a match: folding (unidecode), tokens, Snowball stems."""
import functools
import re
import unicodedata

import Stemmer
from unidecode import unidecode

# the languages the shipped lexicon speaks, in the order they are tried when a name's language is unknown
# (la: the Latin anatomical names every language writes)
LANGUAGES = ("es", "de", "fr", "it", "nl", "pl", "pt", "sv", "da", "fi", "cs", "hu", "el", "en", "la")
SNOWBALL = {"es": "spanish", "de": "german", "fr": "french", "it": "italian", "nl": "dutch", "pl": "polish",
            "pt": "portuguese", "en": "english", "da": "danish", "sv": "swedish", "nb": "norwegian",
            "no": "norwegian", "fi": "finnish", "ca": "catalan", "ro": "romanian", "hu": "hungarian",
            "cs": "czech", "el": "greek", "lt": "lithuanian", "et": "estonian"}
# endings the Snowball stems leave apart -> the ending of the form the lexicon lists (read as lexicon.PLURALS): the
# Swedish and Danish definite and plural forms (lungorna, njurarna; lungerne, skulderen), Finnish cases (maksassa,
# keuhkojen, munuaisten); a Finnish stem that changes (polvi/polven, lanneranka/lannerangan) is listed in fi.csv;
# Hungarian cases, plurals and adjectives, folded (csuklóról, térdről, bordák, medencei: the vowel a suffix lengthens,
# bokáról, folds back)
ENDINGS = {"sv": (("orna", "a"), ("arna", "e"), ("arna", ""), ("erna", ""), ("na", ""), ("or", "a"), ("ar", "e"),
                  ("ar", ""), ("er", ""), ("en", ""), ("et", ""), ("n", ""), ("t", "")),
           "da": (("erne", "e"), ("erne", ""), ("ene", "e"), ("ene", ""), ("er", "e"), ("er", ""), ("en", ""),
                  ("et", ""), ("e", ""), ("n", ""), ("t", "")),
           "fi": (("iden", ""), ("ien", "i"), ("jen", "t"), ("ten", "et"), ("ssa", ""), ("sta", ""), ("lla", ""),
                  ("lta", ""), ("lle", ""), ("ksi", ""), ("na", ""), ("n", ""), ("t", "")),
           "hu": (("rol", ""), ("bol", ""), ("tol", ""), ("ban", ""), ("ben", ""), ("nal", ""), ("nel", ""),
                  ("hoz", ""), ("hez", ""), ("val", ""), ("vel", ""), ("ra", ""), ("re", ""), ("ba", ""), ("be", ""),
                  ("ak", ""), ("ek", ""), ("ok", ""), ("on", ""), ("en", ""), ("i", ""), ("k", ""), ("t", ""))}
# the languages that write a finding of a region as one word, read as that region (`Lungenembolie`, `lungemboli`)
FINDING_COMPOUNDS = ("de", "nl", "sv", "da", "fi")
TOKEN = re.compile(r"[a-z0-9]+")
ASIDE_TOKEN = re.compile(r"[a-z0-9]+|[()\[\],;]")
SEMANTIC_TAG = re.compile(r"\s*\([^()]*\)\s*$")   # SNOMED CT's "(body structure)"
# Greek in Latin letters as Greek systems export it (ELOT 743: η and ι -> i, υ -> y, χ -> ch, β -> v), so
# `ΑΞΟΝΙΚΗ ΘΩΡΑΚΟΣ`, `αξονική θώρακος` and `AXONIKI THORAKOS` are one text (unidecode writes `akSonike`)
GREEK = re.compile("[\u0370-\u03ff\u1f00-\u1fff]")
GREEK_LETTERS = str.maketrans({"α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
                               "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
                               "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
                               "ω": "o", "\u0308": ""})
GREEK_PAIRS = (("ου", "ou"), ("αυ", "av"), ("ευ", "ev"))      # a diaeresis keeps the letters apart (αϋ)
GREEK_ENDING = re.compile(r"[aeiouy]+[sn]?$")                # the endings of Greek cases, in Latin letters
# stemmers that read words folded to ASCII where they expect accents, or Greek in Latin letters: a stem of fewer
# than four letters cuts too deep there and joins other words (Hungarian térd -> ter, as in arterie; Greek
# miros, the thigh, and miriaio, the femur, -> mir): the word is kept as written
FOLDED_STEMMING = ("cs", "hu", "el")
FOLDED_STEM_MIN_LENGTH = 4


def fold(text: str) -> str:
    """Lower case, accents and other letters transliterated to ASCII (Ä -> a, ß -> ss, ł -> l, θώρακος -> thorakos)."""
    if text and GREEK.search(text):
        text = _greek_in_latin(text)
    return unidecode(text or "").lower()


def _greek_in_latin(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower())
                   if not unicodedata.combining(c) or c == "\u0308")   # accents and breathings go, a diaeresis stays
    for pair, latin in GREEK_PAIRS:
        text = text.replace(pair, latin)
    return text.translate(GREEK_LETTERS)


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


class _GreekInLatin:
    """Greek is read in Latin letters (fold), where its Snowball stemmer finds nothing: the vowels and the s or
    n that end its cases go (thorakos, thoraka, thorakas -> thorak; koilias, koilia -> koil; gonatou -> gonat)."""
    @staticmethod
    def stemWord(word: str) -> str:   # Snowball's name
        return GREEK_ENDING.sub("", word)


@functools.cache
def _stemmer(language: str):
    if language == "el":
        return _GreekInLatin()
    name = SNOWBALL.get(language)
    return Stemmer.Stemmer(name) if name else None


@functools.lru_cache(maxsize=200_000)
def stem(language: str | None, word: str) -> str:
    """The Snowball stem of a folded word in a language (English when the language has no stemmer);
    numbers and words of two letters stay as they are."""
    if len(word) <= 2 or word.isdigit():
        return word
    s = _stemmer(language or "en") or _stemmer("en")
    cut = s.stemWord(word)
    return word if len(cut) < FOLDED_STEM_MIN_LENGTH and language in FOLDED_STEMMING else cut


def strip_semantic_tag(text: str) -> str:
    return SEMANTIC_TAG.sub("", text) if text.endswith(")") else text
