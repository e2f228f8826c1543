"""The syntax of a code system's identifiers: the one place that knows which strings can be codes
of a system at all, whatever part of it the build holds.

- SNOMED CT (`http://snomed.info/sct`): an SCTID - digits only, 6 to 18 of them, no leading zero,
  a partition identifier (the two digits before the last) of the kind the context needs
  (a concept: 00, or 10 with a namespace; a description: 01/11; a relationship: 02/12), and a
  Verhoeff check digit. A postcompositional expression is judged by the concept ids it names.
- LOINC (`http://loinc.org`): a term number NNNNN-N with its mod-10 (Luhn) check digit, or a part,
  answer, answer list or group code (LP, LA, LL, LG + digits + `-` + a check digit; the check rule
  of those is not published, so only their form is judged).
- Any other code system whose CodeSystem declares its syntax: the extension CODE_SYNTAX with a
  regular expression every code matches in full (evaluated by RE2, so a pattern in a request's
  tx-resource cannot hang a worker).

    problem("http://snomed.info/sct", "71615007")   # Malformed("SNOMED CT concept identifier", "the check digit is wrong")
    problem("http://loinc.org", "18748-4")          # None

A code the build holds is its code system's (the content is the authority for what it lists); the
syntax judges the codes a build does not hold, so that a fragment, or no content at all, can still
say that a string cannot be a code.
"""
import re
from collections.abc import Callable
from dataclasses import dataclass

from termsvc.fhir import messages
from termsvc.fhir.outcome import OpError
from termsvc.ops.context import Context
from termsvc.ops.per_build import PerBuild
from termsvc.ops.regex import fullmatch, try_compile
from termsvc.results import JSON

SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
CODE_SYNTAX = "http://termsvc.local/fhir/StructureDefinition/code-syntax"

CONCEPT, DESCRIPTION, RELATIONSHIP = "concept", "description", "relationship"
PARTITIONS = {"00": CONCEPT, "01": DESCRIPTION, "02": RELATIONSHIP,   # short format (International)
              "10": CONCEPT, "11": DESCRIPTION, "12": RELATIONSHIP}   # long format: a namespace before it
EXPRESSION_SYNTAX = re.compile(r"[:=+{}(),<>]")
TERM = re.compile(r"\|[^|]*\|")
CONCRETE = re.compile(r'#[-+0-9.]+|"[^"]*"')   # the concrete values of an expression

# Verhoeff's dihedral group D5: multiplication, and the permutation of each position (mod 8)
_D = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
      (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
      (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
      (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
_P: list[tuple[int, ...]] = [(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)]
for _ in range(6):
    _P.append(tuple(_P[-1][_P[1][j]] for j in range(10)))


@dataclass(frozen=True, slots=True)
class Malformed:
    what: str      # "SNOMED CT concept identifier", "LOINC code", "code of http://..."
    reason: str    # why not, never empty


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, d in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(d)]]
    return c == 0


def sctid_problem(sctid: str, kind: str = CONCEPT) -> str | None:
    """Why `sctid` is not an SCTID of this kind (concept, description, relationship), or None."""
    if not sctid:
        return "it is empty"
    if not sctid.isascii() or not sctid.isdigit():
        return "an identifier has only the digits 0-9"
    if not 6 <= len(sctid) <= 18:
        return f"it has {len(sctid)} digits (an identifier has 6 to 18)"
    if sctid[0] == "0":
        return "it starts with a zero"
    partition = sctid[-3:-1]
    found = PARTITIONS.get(partition)
    if found is None:
        return f"its partition identifier '{partition}' is not one of a concept, description or relationship"
    if partition[0] == "1" and len(sctid) < 11:
        return f"its partition identifier '{partition}' needs a 7-digit namespace, which {len(sctid)} digits cannot hold"
    if found != kind:
        return f"its partition identifier '{partition}' is that of a {found}, not a {kind}"
    if not verhoeff_ok(sctid):
        return "the check digit is wrong"
    return None


def _snomed(code: str, kind: str) -> Malformed | None:
    if EXPRESSION_SYNTAX.search(code):   # a postcoordinated expression: the concept ids it names
        names = CONCRETE.sub(" ", TERM.sub(" ", code))
        for sctid in re.findall(r"[0-9A-Za-z]+", names):
            reason = sctid_problem(sctid, CONCEPT)
            if reason:
                return Malformed("SNOMED CT expression", f"'{sctid}': {reason}")
        return None
    reason = sctid_problem(code, kind)
    return Malformed(f"SNOMED CT {kind} identifier", reason) if reason else None


_LOINC_TERM = re.compile(r"([0-9]{1,7})-([0-9])")
_LOINC_OTHER = re.compile(r"L[PALG][0-9]+-[0-9]")


def luhn_check_digit(digits: str) -> int:
    """The mod-10 check digit of a LOINC number: every second digit from the right doubled
    (starting with the rightmost), the digits summed."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def _loinc(code: str, _kind: str) -> Malformed | None:
    m = _LOINC_TERM.fullmatch(code)
    if m:
        if luhn_check_digit(m[1]) != int(m[2]):
            return Malformed("LOINC code", "the check digit is wrong")
        return None
    if _LOINC_OTHER.fullmatch(code):
        return None
    return Malformed("LOINC code", "a LOINC code is a number, a hyphen and a check digit (NNNNN-N), or a part,"
                                   " answer, answer list or group code (LP..., LA..., LL..., LG...)")


RULES: dict[str | None, Callable[[str, str], "Malformed | None"]] = {SNOMED: _snomed, LOINC: _loinc}


def has_syntax(system: str | None, resource: JSON | None = None) -> bool:
    return system in RULES or declared_pattern(resource) is not None


def declared_pattern(resource: JSON | None) -> str | None:
    """The regular expression a CodeSystem declares its codes match (extension CODE_SYNTAX)."""
    for x in (resource or {}).get("extension") or []:
        if isinstance(x, dict) and x.get("url") == CODE_SYNTAX and isinstance(x.get("valueString"), str):
            pattern: str = x["valueString"]
            return pattern
    return None


def problem(system: str | None, code: str, resource: JSON | None = None, kind: str = CONCEPT) -> Malformed | None:
    """Why `code` cannot be a code of `system` (its CodeSystem resource, when loaded, may declare
    the syntax), or None when it can - or when nothing is known of the system's syntax."""
    if not isinstance(code, str):
        return None
    rule = RULES.get(system)
    if rule is not None:
        return rule(code, kind)
    pattern = declared_pattern(resource)
    if pattern is None:
        return None
    compiled = try_compile(pattern)
    if compiled is None:
        return None   # a declaration RE2 cannot read says nothing (the CodeSystem is at fault, not the code)
    if not fullmatch(compiled, code):
        return Malformed(f"code of {system}", f"its codes match the pattern {pattern} (declared by the CodeSystem)")
    return None


def input_error(ctx: Context, system: str | None, code: object) -> OpError | None:
    """The 400 for an operation's input code (a $translate source, a $lookup) that cannot be a code
    of its system, unless the code system held (a request's own, say) lists it; else None."""
    if not system or not isinstance(code, str) or not _may_declare(ctx, system):
        return None
    cs = ctx.code_system(system)
    bad = problem(system, code, cs.resource if cs is not None else None)
    if bad is None or (cs is not None and cs.find(code)[0] is not None):
        return None
    return messages.error("invalid-identifier", issue_code="code-invalid", tx_type="invalid-code", code=code,
                          what=bad.what, reason=bad.reason)


def _may_declare(ctx: Context, system: str) -> bool:
    """Can `system` have a syntax here (a rule of ours, or a CodeSystem of the request or the build that
    declares one)? Asked once per build for the stored ones, so an operation's input costs nothing more
    for the other systems."""
    if system in RULES or ("CodeSystem", system) in ctx.tx:
        return True
    if ctx.store is None:
        return False
    return system in _DECLARING.get(ctx.store)


# the stored code systems that declare a syntax for their codes (CODE_SYNTAX)
_DECLARING = PerBuild(lambda store: frozenset(url for (url,) in store.all(
    "SELECT url FROM resource WHERE type='CodeSystem' AND json LIKE ?", (f"%{CODE_SYNTAX}%",))))
