"""The `regex` filter of ValueSet.compose, evaluated by RE2: linear time in the length of the
text whatever the pattern, so a pattern such as `((a+)+)+` cannot hang a worker.

RE2 has no backreferences or look-around; a pattern it cannot compile is refused with a 400
naming the filter, never evaluated by a backtracking engine.
"""
import functools
from typing import Any

import re2

from termsvc.fhir import messages

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False   # RE2 would print each refused pattern to stderr
Pattern = Any   # a compiled re2 pattern (re2 ships no type information)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> Pattern | str:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        reason = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        return reason


def compile_filter(pattern: str, prop: str | None, system: str | None) -> Pattern:
    """The compiled pattern of a `regex` filter; OpError (400) when it is invalid or unsupported."""
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        raise messages.error("regex-unusable", tx_type="vs-invalid", pattern=pattern, property=prop, system=system,
                             reason=compiled)
    return compiled


def try_compile(pattern: str) -> Pattern | None:
    """The compiled pattern, or None when RE2 cannot compile it."""
    compiled = _compile(pattern)
    return None if isinstance(compiled, str) else compiled


def fullmatch(compiled: Pattern, text: str | None) -> bool:
    return compiled.fullmatch(text or "") is not None
