"""What a Coding's system names when no loaded code system has it as its URI.

- A code system named by its OID: `urn:oid:2.16.840.1.113883.6.96` is SNOMED CT's, and FHIR names SNOMED CT
  http://snomed.info/sct (a Coding's system is the code system's URI wherever one is defined). The OIDs come
  from the code systems' NamingSystems (THO's) and from the loaded CodeSystems' own identifiers.
- A loaded code system's URI written another way: https for http, `www.`, a trailing slash, capitals.
- A likely slip, said as a question only: the URI of a known code system at another domain of the same name
  (`http://snomed.org/sct` for http://snomed.info/sct).

    named = system_named(store, "urn:oid:2.16.840.1.113883.6.96")
    named.uri, named.kind, named.certain      # http://snomed.info/sct, "oid", True
"""
from dataclasses import dataclass

import orjson

from termsvc.fhir import messages
from termsvc.ops.per_build import PerBuild
from termsvc.store.queries import Queries
from termsvc.store.schema import NAMING_SYSTEM_TYPE

OID_PREFIX = "urn:oid:"


# SystemName.kind: how the system given names the code system (the message that says it, fhir.messages)
OID, WRITTEN_OTHERWISE, GUESS = "system-oid", "system-written-otherwise", "system-did-you-mean"


@dataclass(frozen=True, slots=True)
class SystemName:
    uri: str        # the code system's URI
    kind: str       # OID, WRITTEN_OTHERWISE or GUESS

    @property
    def certain(self) -> bool:
        return self.kind != GUESS


@dataclass(frozen=True, slots=True)
class _Index:
    oids: dict[str, str]             # urn:oid:OID -> the code system's URI
    forms: dict[str, str]            # a URI's plain form (_plain) -> the URI
    stems: dict[str, frozenset[str]]  # a plain form without its domain's ending -> the URIs


def _plain(uri: str) -> str | None:
    """An http(s) URI without its scheme, `www.`, trailing slashes or capitals; None for another URI."""
    low = uri.strip().lower()
    for scheme in ("http://", "https://"):
        if low.startswith(scheme):
            rest = low[len(scheme):].rstrip("/")
            return rest[4:] if rest.startswith("www.") else rest
    return None


def _stem(plain: str) -> str | None:
    """A plain form without the ending of its domain (`snomed.info/sct` -> `snomed/sct`, `loinc.org` -> `loinc/`)."""
    host, _, path = plain.partition("/")
    labels = host.split(".")
    return "/".join([".".join(labels[:-1]), path]) if len(labels) >= 2 and labels[0] else None


def _index(store: Queries) -> _Index:
    oids: dict[str, str] = {}
    uris = {url for (url,) in store.all("SELECT DISTINCT url FROM code_system WHERE url IS NOT NULL")}
    for (text,) in store.all("SELECT json FROM resource WHERE type=?", (NAMING_SYSTEM_TYPE,)):
        ids = orjson.loads(text).get("uniqueId") or []
        named = [u for u in ids if isinstance(u, dict) and isinstance(u.get("value"), str)]
        preferred = [u["value"] for u in named if u.get("type") == "uri" and u.get("preferred")] or \
            [u["value"] for u in named if u.get("type") == "uri"]
        if not preferred or preferred[0].startswith(OID_PREFIX):   # (a code system FHIR names by its OID)
            continue
        uris.add(preferred[0])
        for u in named:
            if u.get("type") == "oid":
                oids.setdefault(OID_PREFIX + u["value"].removeprefix(OID_PREFIX), preferred[0])
    for url, text in store.all("SELECT url, json FROM resource WHERE type='CodeSystem' AND json LIKE ?",
                               (f"%{OID_PREFIX}%",)):
        for ident in orjson.loads(text).get("identifier") or []:
            value = ident.get("value") if isinstance(ident, dict) else None
            if isinstance(value, str) and value.startswith(OID_PREFIX) and url and not url.startswith(OID_PREFIX):
                oids.setdefault(value, url)
    forms = {p: u for u in sorted(uris) if (p := _plain(u)) is not None}
    stems: dict[str, set[str]] = {}
    for p, u in forms.items():
        if (s := _stem(p)) is not None:
            stems.setdefault(s, set()).add(u)
    return _Index(oids, forms, {s: frozenset(us) for s, us in stems.items()})


_INDEX = PerBuild(_index)


def system_named(store: Queries | None, system: str) -> SystemName | None:
    """The known code system `system` names, when it is not that code system's URI (see the module)."""
    if store is None or not system:
        return None
    index = _INDEX.get(store)
    uri = index.oids.get(system)
    if uri is not None:
        return SystemName(uri, OID)
    plain = _plain(system)
    if plain is None:
        return None
    uri = index.forms.get(plain)
    if uri is not None:
        return SystemName(uri, WRITTEN_OTHERWISE) if uri != system else None
    stem = _stem(plain)
    guesses: frozenset[str] = index.stems.get(stem, frozenset()) if stem else frozenset()
    if len(guesses) == 1:
        (uri,) = guesses
        return SystemName(uri, GUESS)
    return None


def named_otherwise(store: Queries | None, system: str) -> str | None:
    """What to tell of an unknown system that names a known code system (the message of system_named), else None."""
    named = system_named(store, system)
    return messages.text(named.kind, system=system, uri=named.uri) if named else None
