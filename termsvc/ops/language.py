"""Display languages: parsing displayLanguage / Accept-Language and choosing a
concept's display and designations for them.
"""
import functools
import re

from termsvc.fhir import messages
from termsvc.fhir.params import Params
from termsvc.results import JSON

PREFERRED_FOR_LANGUAGE = {"system": "http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra",
                          "code": "preferredForLanguage", "display": "Preferred For Language"}


_TAG_SYNTAX = re.compile(r"[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*")
_Q_VALUE = re.compile(r"q=(0(\.[0-9]{0,3})?|1(\.0{0,3})?)")


@functools.lru_cache(maxsize=1024)
def _valid_tag(tag: str) -> bool:
    """Is `tag` a BCP 47 language tag whose subtags the IANA registry knows (langcodes ships it)?"""
    import langcodes   # its registry is loaded on first use, not at every start
    return tag == "*" or (_TAG_SYNTAX.fullmatch(tag) is not None and langcodes.tag_is_valid(tag))


def display_language(params: Params) -> str | None:
    """The displayLanguage parameter, checked: one or more language tags as in Accept-Language
    (`de`, `de-CH, en; q=0.5, *`). One that is not a language tag is a 400 naming the parameter
    and the tag (the Accept-Language header stays lenient: HTTP clients send what they send)."""
    raw = params.str("displayLanguage")
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",")]
    for part in parts:
        tag, _, rest = (x.strip() for x in part.partition(";"))
        if not _valid_tag(tag):
            raise messages.error("display-language-invalid", tx_type="invalid-data", value=raw, tag=tag)
        if rest and not _Q_VALUE.fullmatch(rest.replace(" ", "")):
            raise messages.error("display-language-invalid", tx_type="invalid-data", value=raw, tag=part)
    return raw


class LanguagePrefs:
    """An ordered list of (language, q). `hard` when '*' is excluded with q=0."""

    def __init__(self, raw: str | None):
        self.raw = raw
        self.langs: list[tuple[str, float]] = []
        self.wildcard: float | None = None
        if raw:
            for part in raw.split(","):
                part = part.strip()
                if not part:
                    continue
                tag, _, rest = part.partition(";")
                tag = tag.strip()
                q = 1.0
                rest = rest.strip()
                if rest.startswith("q="):
                    try:
                        q = float(rest[2:])
                    except ValueError:
                        q = 1.0
                if tag == "*":
                    self.wildcard = q
                else:
                    self.langs.append((tag, q))
            self.langs.sort(key=lambda x: -x[1])

    def __bool__(self) -> bool:
        return bool(self.langs)

    @property
    def hard(self) -> bool:
        return self.wildcard == 0

    def echo(self) -> str | None:
        """How the parameter is echoed: as sent, or normalised when it carries q-values."""
        if self.raw and ";" in self.raw:
            parts = []
            for part in self.raw.split(","):
                tag, _, rest = part.strip().partition(";")
                rest = rest.strip()
                parts.append(tag.strip() + ("; " + rest.replace(" ", "") if rest else ""))
            return ", ".join(parts)
        return self.raw

    def wanted(self) -> list[str]:
        return [t for t, q in self.langs if q > 0]


def lang_matches(wanted: str | None, actual: str | None) -> bool:
    """'de' matches 'de', 'de-CH'; 'de-CH' matches 'de-CH' and 'de'."""
    if not wanted or not actual:
        return False
    w, a = wanted.lower(), actual.lower()
    return a == w or a.startswith(w + "-") or w.startswith(a + "-")


def choose_display(prefs: LanguagePrefs, cs_language: str | None, display: str | None,
                   designations: list[JSON]) -> tuple[str | None, JSON | None, bool]:
    """(display, designation_used_or_None, changed) for the requested languages.

    changed: the display is not the code system's own (another language was asked for)."""
    if not prefs:
        return display, None, False
    for want in prefs.wanted():
        if cs_language and lang_matches(want, cs_language) and display:
            return display, None, False
        for d in designations:
            if d.get("language") and lang_matches(want, d["language"]) and not _is_fsn(d):
                return d.get("value"), d, True
    if prefs.hard:
        return None, None, True
    return display, None, False


def _is_fsn(d: JSON) -> bool:
    use = d.get("use") or {}
    return use.get("code") == "900000000000003001"
