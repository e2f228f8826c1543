"""Is a display right for a concept? The displays a concept may be given: its own (in the code
system's language), the value set's, and its designations that are displays (a designation with
a language, or with no `use`; one marked deprecated or withdrawn no longer counts).

A display matches when it is one of them but for case. One that differs only in its whitespace
(spaces around it, or runs of spaces, tabs and line breaks inside: "  Computed   Tomography ")
is still wrong - it is not the display - but is said to be wrong in its whitespace
(Display_Name_WS_for__should_be_one_of__instead_of), as the FHIR validator and the reference
server compare: exactly but for case, then with the whitespace normalised.
"""
from termsvc.ops.codesystems import C, CodeSystemProvider
from termsvc.ops.compose import STANDARDS_STATUS
from termsvc.ops.members import Member
from termsvc.ops.language import LanguagePrefs, lang_matches

RETIRED_STATUSES = ("deprecated", "withdrawn", "retired")


def _choices(cs: CodeSystemProvider[C], concept: C, member: Member | None
             ) -> tuple[list[tuple[str, str | None]], list[str]]:
    """([(value, language)] the valid displays, [value] displays that are no longer valid)."""
    current: list[tuple[str, str | None]] = []
    retired: list[str] = []
    if concept.display:
        current.append((concept.display, cs.language))
    if member is not None and member.display and member.display != concept.display:
        current.append((member.display, None))
    designations = list(cs.designations(concept))
    if member is not None and member.designations:
        designations += member.designations
    for d in designations:
        if not d.get("value") or (d.get("use") and not d.get("language")):
            continue
        if any(x.get("url") == STANDARDS_STATUS and x.get("valueCode") in RETIRED_STATUSES
               for x in d.get("extension", []) or []):
            retired.append(d["value"])
        else:
            current.append((d["value"], d.get("language")))
    return current, retired


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _normalised(s: str) -> str:
    return " ".join(s.split()).lower()


def display_matches(cs: CodeSystemProvider[C], concept: C, member: Member | None, given: str) -> bool:
    """Is `given` one of the concept's valid displays (any language), whitespace aside?"""
    given = _normalised(given)
    if concept.display and _normalised(concept.display) == given:   # (the first of the choices)
        return True
    return any(_normalised(v) == given for v, _ in _choices(cs, concept, member)[0])


def display_problem(cs: CodeSystemProvider[C], concept: C, member: Member | None, given: str,
                    prefs: LanguagePrefs | None, lenient: bool) -> tuple[str, str, dict[str, str | None]] | None:
    """None when `given` is a valid display in the languages asked for, else
    (severity, message id, message fields) of the issue to report."""
    wanted = prefs.wanted() if prefs else []
    if not wanted and concept.display and _same(concept.display, given):   # (the first valid choice)
        return None
    choices, retired = _choices(cs, concept, member)

    def in_lang(lang: str | None) -> bool:
        lang = lang or cs.language
        return not wanted or lang is None or any(lang_matches(w, lang) for w in wanted)

    valid = [(v, lang) for v, lang in choices if in_lang(lang)]
    if any(_same(v, given) for v, _ in valid):
        return None
    if any(_same(v, given) for v in retired):
        listed = ", ".join(dict.fromkeys(f'"{v}"' for v, _ in valid))
        return "warning", "INACTIVE_DISPLAY_FOUND", {"display": given, "status": "deprecated", "choices": listed}
    severity = "warning" if lenient else "error"
    langs = ",".join(wanted) if wanted else "--"
    if wanted and not valid:
        if any(_same(v, given) for v, _ in choices):
            return "information", "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK", {"display": given, "langs": langs}
        return severity, "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR", {"display": given, "langs": langs,
                                                                       "default": concept.display}
    shown = list(dict.fromkeys(f"'{v}'" + (f" ({lang or cs.language})" if (lang or cs.language) else "")
                               for v, lang in valid))
    choice_text = shown[0] if len(shown) == 1 else f"one of {len(shown)} choices: {' or '.join(shown)}"
    only_whitespace = any(_normalised(v) == _normalised(given) for v, _ in valid)
    message_id = ("Display_Name_WS_for__should_be_one_of__instead_of" if only_whitespace
                  else "Display_Name_for__should_be_one_of__instead_of")
    return severity, message_id, {"display": given, "choices": choice_text, "langs": langs}
