"""ValueSet.compose semantics: which concepts an include/exclude selects, in which code system
version.

Two entry points share the rules:
- `Composer.members(vs)` enumerates a value set (for $expand and pre-expansion);
- `Composer.contains(vs, system, code)` decides membership of one code without expanding (for
  $validate-code), so validating against a filter over SNOMED CT costs a few indexed lookups.

The version of a code system an include selects: `force-system-version` for that system, else the
include's own version (exact or a wildcard), else `system-version` (then `check-system-version`)
as a default, else the latest version known. The same system may be included in several versions
(overloads): members are then told apart by version unless the value set merges them
(`versionsMatch`), and an exclude removes a code whatever its version unless told otherwise.
"""
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from termsvc import deadline
from termsvc.fhir import messages
from termsvc.fhir.outcome import OpError, TooManyCodes
from termsvc.fhir.params import Params
from termsvc.ops import filters
from termsvc.ops.completeness import PARTIAL_CONTENT, Undecided
from termsvc.ops.context import (Context, Provider, canonical_label, canonical_versions, split_canonical, version_key,
                                 version_matches, vurl)
from termsvc.ops.includes import concept_ref, in_version_order
from termsvc.ops.systems import named_otherwise
from termsvc.ops.members import (Member, MemberKey, enumerated_member, first_of_each_code, in_chunks,
                                  members_as_they_are)
from termsvc.results import JSON

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
VS_SUPPLEMENT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"
EXPANSION_PARAMETER = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


@dataclass(slots=True)
class VersionRules:
    """What the request says about versions: of code systems (`system-version` as a default,
    `force-system-version` over the value set, `check-system-version` as a requirement) and of
    the value sets a value set imports (`default-valueset-version`)."""
    defaults: dict[str | None, str | None] = field(default_factory=dict)   # system (or value set url) -> version
    force: dict[str | None, str | None] = field(default_factory=dict)
    check: dict[str | None, str | None] = field(default_factory=dict)
    value_sets: dict[str | None, str | None] = field(default_factory=dict)
    to_latest: bool = False   # default-to-latest-version: a pinned version the server lacks -> the latest

    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"system-version", "force-system-version", "check-system-version",
                                                     "default-valueset-version", "default-to-latest-version"})
    NONE: ClassVar["VersionRules"]   # a request's that says nothing of versions (never changed)

    @classmethod
    def from_params(cls, params: Params) -> "VersionRules":
        if not params.has_any(cls.PARAMETERS):   # (most requests)
            return cls.NONE
        return cls(canonical_versions(params.all("system-version")),
                   canonical_versions(params.all("force-system-version")),
                   canonical_versions(params.all("check-system-version")),
                   canonical_versions(params.all("default-valueset-version")),
                   params.bool("default-to-latest-version"))


VersionRules.NONE = VersionRules()


@dataclass(slots=True)
class IncludeVersion:
    """The code system version an include (or exclude) selects, and how it was chosen."""
    system: str
    declared: str | None      # the include's own version
    wanted: str | None        # what was looked for (None: the latest)
    source: str | None        # the request parameter that decided `wanted` (None: the value set)
    cs: Provider | None   # None: no such version is known

    def accepts(self, version: str | None) -> bool:
        """Is a coding of this version one of the include's (before knowing it exists)?"""
        return version is None or self.wanted is None or version_matches(self.wanted, version)


class CycleError(OpError):
    pass


class Composer:
    def __init__(self, ctx: Context, rules: VersionRules | None = None, max_size: int | None = None,
                 supplements: list[str] | None = None, active_only: bool = False, versions_match: bool | None = None):
        self.ctx = ctx
        self.rules = rules or VersionRules()
        self.max_size = max_size
        self.supplements = supplements or []
        self.active_only = active_only
        self.versions_match = versions_match        # None: includes apart by version, excludes across versions
        self.used_codesystems: dict[str, Provider | None] = {}   # vurl -> provider
        self.used_valuesets: list[str] = []
        self.used_supplements: list[str] = []
        self.used_version_params: set[tuple[str, str]] = set()   # (parameter name, system) that chose a version
        self.warnings: list[tuple[str, str]] = []      # (parameter name, canonical)
        self.unknown_systems: list[str] = []           # systems (or system|version) the value set needs
        self.visited: list[IncludeVersion] = []        # includes of the code's system seen by contains()
        self.undecided: list[Undecided] = []           # includes/excludes contains() could not settle
        self.merged_across_versions = False            # an exclude removed a code of another version
        self._stack: list[str | int] = []             # the value sets being walked (url|version, else id())
        # id(include) -> (the include, its value set, the version it selects): worked out once each
        self._include_versions: dict[int, tuple[JSON, JSON | None, IncludeVersion]] = {}

    # -- code systems ---------------------------------------------------------------
    def code_system_for(self, system: str, version: str | None, vs: JSON | None = None) -> Provider | None:
        """The provider of system for a coding of `version` (force-system-version over it,
        system-version as its default), with the supplements the request and vs ask for."""
        if system in self.rules.force:
            version = self.rules.force[system]
        elif version is None and system in self.rules.defaults:
            version = self.rules.defaults[system]
        return self.provider(system, version, vs)

    def provider(self, system: str, version: str | None, vs: JSON | None = None) -> Provider | None:
        """The provider of system in `version` (exact or a wildcard; None: the latest), with the
        supplements the request and vs ask for; None when there is no such version."""
        supps = []
        wanted = self.supplements + _vs_supplements(vs) if vs and vs.get("extension") else self.supplements
        for canonical in wanted:
            s = self.ctx.supplement(canonical)
            if s is None:
                raise messages.error("VALUESET_SUPPLEMENT_MISSING", issue_code="not-found", tx_type="not-found",
                                     url=canonical)
            if split_canonical(s.get("supplements"))[0] == system:
                supps.append(s)
        cs = self.ctx.code_system(system, version)
        if cs is None and version is not None and self.rules.to_latest and system not in self.rules.force:
            cs = self.ctx.code_system(system)  # default-to-latest-version: the pinned version is not loaded
            if cs is not None:
                self._warn("warning-version-substituted", f"{system}|{version}")
        if cs is None:
            return None
        if supps:
            cs = cs.with_supplements(supps)
            for s in supps:
                v = canonical_label(s)   # (url|version: a supplement is found by its url)
                if v not in self.used_supplements:
                    self.used_supplements.append(v)
        return cs

    def include_version(self, inc: JSON, vs: JSON | None) -> IncludeVersion:
        """The version of its code system an include (or exclude) selects (see the module doc); worked out
        once per include (enumerating an include and telling whether it is closed both ask)."""
        known = self._include_versions.get(id(inc))
        if known is not None and known[0] is inc and known[1] is vs:
            return known[2]
        system, declared = inc["system"], inc.get("version")
        rules = self.rules
        if system in rules.force:
            wanted, source = rules.force[system], "force-system-version"
        elif declared:
            wanted, source = declared, None
        elif system in rules.defaults:
            wanted, source = rules.defaults[system], "system-version"
        elif system in rules.check:
            wanted, source = rules.check[system], "check-system-version"
        else:
            wanted, source = None, None
        cs = self.provider(system, wanted, vs)
        if cs is not None and source is not None:
            self.used_version_params.add((source, system))
        iv = IncludeVersion(system, declared, wanted, source, cs)
        self._include_versions[id(inc)] = (inc, vs, iv)
        return iv

    def version_check_error(self, cs: Provider) -> OpError | None:
        """The error when check-system-version rules out the version of cs."""
        wanted = self.rules.check.get(cs.url)
        if wanted and not version_matches(wanted, cs.version):
            return messages.error("VALUESET_VERSION_CHECK", issue_code="exception", tx_type="version-error",
                                  version=cs.version, system=cs.url, wanted=wanted)
        return None

    def note_cs(self, cs: Provider) -> None:
        """Record cs as used, with the warnings its status calls for."""
        url = cs.vurl()
        if url in self.used_codesystems:
            return
        self.used_codesystems[url] = cs
        status, standards = cs.resource.get("status"), standards_status(cs.resource)
        if status == "draft":
            self._warn("warning-draft", url)
        if cs.resource.get("experimental") is True:
            self._warn("warning-experimental", url)
        if standards == "deprecated":
            self._warn("warning-deprecated", url)
        if status == "retired" or standards == "withdrawn":
            self._warn("warning-withdrawn", url)

    # -- value sets -----------------------------------------------------------------
    def note_vs(self, vs: JSON) -> None:
        status = vs.get("status")
        url = vurl(vs)
        if url is None:
            return
        if (standards := standards_status(vs)) == "withdrawn" or status == "retired":
            self._warn("warning-withdrawn", url)
        if standards == "deprecated":
            self._warn("warning-deprecated", url)

    def _warn(self, name: str, canonical: str) -> None:
        if (name, canonical) not in self.warnings:
            self.warnings.append((name, canonical))

    def resolve_vs(self, canonical: str, expanding: bool = False) -> JSON:
        """An imported value set; an unversioned import takes default-valueset-version."""
        url, version = split_canonical(canonical)
        pinned = version is None and url in self.rules.value_sets
        if pinned:
            version = self.rules.value_sets[url]
        vs = self.ctx.value_set(url, version)
        if vs is None:
            if pinned and expanding:
                raise messages.error("VS_EXP_IMPORT_UNK_PINNED", status=404, issue_code="not-found",
                                     tx_type="not-found", url=url, version=version)
            raise messages.error("Unable_to_resolve_value_Set_", status=404, issue_code="not-found",
                                 tx_type="not-found", url=f"{url}|{version}" if version else canonical)
        return vs

    def _import(self, canonical: str, excluding: bool, expanding: bool = False) -> JSON:
        sub = self.resolve_vs(canonical, expanding)
        url = canonical_label(sub)   # (url|version, when it is not one the value set contains: `#id`)
        if not canonical.startswith("#") and url not in self.used_valuesets:
            self.used_valuesets.append(url)
        if not excluding:
            self.note_vs(sub)
        return sub

    def check_cycles(self, vs: JSON, path: tuple[str | int, ...] = ()) -> None:
        """Raise CycleError when the value set imports itself (through include or exclude)."""
        key = vurl(vs) or id(vs)
        if key in path:
            raise self._cycle(key, path + (key,))
        compose = vs.get("compose") or {}
        for inc in (compose.get("include", []) or []) + (compose.get("exclude", []) or []):
            for canonical in inc.get("valueSet", []) or []:
                sub = self.ctx.value_set(canonical)
                if sub is not None:
                    self.check_cycles(sub, path + (key,))

    def _enter(self, vs: JSON) -> None:
        key = vurl(vs) or id(vs)
        if key in self._stack:
            raise self._cycle(key, tuple(self._stack) + (key,))
        self._stack.append(key)

    @staticmethod
    def _cycle(key: str | int, path: tuple[str | int, ...]) -> CycleError:
        return CycleError(messages.text("VALUESET_CIRCULAR_REFERENCE", url=key, path=" -> ".join(map(str, path))),
                          status=400, code="processing", tx_type="vs-invalid",
                          message_id="VALUESET_CIRCULAR_REFERENCE")

    # -- enumeration ----------------------------------------------------------------
    def members(self, vs: JSON) -> list[Member]:
        self._enter(vs)
        try:
            compose = vs.get("compose") or {}
            if not compose and vs.get("expansion"):
                return self._from_expansion(vs)
            includes = compose.get("include", []) or []
            if len(includes) == 1 and includes[0].get("system") and not compose.get("exclude"):
                # one system in one version: a member is told apart by its code alone
                members = first_of_each_code(self._include(includes[0], vs))
                deadline.check()
                self._check_size(len(members), vs)
            else:
                members = self._merged(includes, compose, vs)
            if self.active_only or compose.get("inactive") is False:
                members = [m for m in members if not m.inactive]
            return members
        finally:
            self._stack.pop()

    def _merged(self, includes: list[JSON], compose: JSON, vs: JSON) -> list[Member]:
        """The members of the includes, less the excluded ones."""
        merge = self.versions_match is True
        out: dict[MemberKey, Member] = {}
        for inc in (includes if merge else in_version_order(includes)):
            for chunk in in_chunks(self._include(inc, vs)):
                if merge:
                    for m in chunk:
                        known = out.setdefault((m.system, m.code), m)
                        if known is not m:   # merged versions: the later include's version
                            out[(m.system, m.code)] = replace(known, version=m.version)
                else:
                    for m in chunk:
                        out.setdefault((m.system, m.version, m.code), m)
                self._check_size(len(out), vs)
        if out and compose.get("exclude"):
            self._exclude(out, compose, vs, merge)
        return list(out.values())

    def _check_size(self, size: int, vs: JSON) -> None:
        if self.max_size and size > self.max_size:
            raise TooManyCodes(messages.text("too-many-codes", url=canonical_label(vs), limit=self.max_size))
    def _exclude(self, out: dict[MemberKey, Member], compose: JSON, vs: JSON, merge: bool) -> None:
        """Remove the excluded codes: the excluded version's member, or - when that version is not
        included and versionsMatch does not say otherwise - the code in every version."""
        versions: dict[MemberKey, list[MemberKey]] = {}   # (system, code) -> its keys by version
        if not merge:
            for k in out:
                versions.setdefault((k[0], k[2]), []).append(k)
        for exc in compose.get("exclude", []) or []:
            for m in self._include(exc, vs, excluding=True):
                if merge:
                    out.pop((m.system, m.code), None)
                    continue
                exact = (m.system, m.version, m.code)
                if exact in out or self.versions_match is False:
                    out.pop(exact, None)
                    continue
                for k in versions.get((m.system, m.code), ()):
                    if out.pop(k, None) is not None:
                        self.merged_across_versions = True

    def _from_expansion(self, vs: JSON) -> list[Member]:
        out: list[Member] = []

        def walk(contains: list[JSON] | None) -> None:
            for c in contains or []:
                if c.get("code") is not None:
                    out.append(Member(c.get("system"),  # type: ignore[arg-type]  # (vsd-10: a code has a system)
                                      c.get("version"), c["code"], c.get("display"),
                                      inactive=bool(c.get("inactive")), abstract=bool(c.get("abstract"))))
                walk(c.get("contains"))
        walk((vs.get("expansion") or {}).get("contains"))
        return out

    def _include(self, inc: JSON, vs: JSON, excluding: bool = False) -> list[Member]:
        system: str | None = inc.get("system")
        vs_sets: list[dict[tuple[str, str], Member]] | None = None
        if inc.get("valueSet"):
            vs_sets = [{(m.system, m.code): m for m in self.members(self._import(c, excluding, expanding=True))}
                       for c in inc["valueSet"]]
        if not system:
            if vs_sets is None:
                return []
            first = vs_sets[0]
            return [m for k, m in first.items() if all(k in s for s in vs_sets[1:])]
        iv = self.include_version(inc, vs)
        cs = iv.cs
        if cs is None:
            return self._unknown_system_include(inc, iv)
        if cs.content == "supplement":
            raise messages.error("supplement-in-value-set", system=system)
        error = self.version_check_error(cs)
        if error is not None:
            raise error
        self.note_cs(cs)
        result: list[Member] = []
        if inc.get("concept"):
            for cref in inc["concept"]:
                concept = cs.locate(cref.get("code"))
                if concept is None:
                    if cs.content == "fragment" and cref.get("code"):  # not known here, not invalid either
                        result.append(Member(system, cs.version, cref["code"], cref.get("display")))
                    continue
                if inc.get("filter") and not all(filters.matches(cs, concept, f) for f in inc["filter"]):
                    continue
                result.append(enumerated_member(system, cs, concept, cref))
        elif inc.get("filter"):
            result = members_as_they_are(system, cs, filters.select(cs, inc["filter"], self.max_size))
        else:
            if cs.content == "not-present":
                raise messages.error("not-present", status=422, issue_code="too-costly", system=cs.vurl())
            if self.max_size and cs.size() > self.max_size and not excluding:
                raise TooManyCodes(messages.text("code-system-too-large", system=cs.vurl(), size=cs.size(),
                                                 limit=self.max_size))
            concepts = cs.iter_all()
            if vs_sets is not None:   # only the codes the imported value sets hold too become members
                both = set(vs_sets[0]).intersection(*vs_sets[1:])
                concepts = cs.in_load_order({code for s, code in both if s == system})
                vs_sets = None
            result = members_as_they_are(system, cs, concepts)
        if vs_sets is not None:
            result = [m for m in result if all((m.system, m.code) in s for s in vs_sets)]
        return result

    def _unknown_system_include(self, inc: JSON, iv: IncludeVersion) -> list[Member]:
        system = iv.system
        known = self.known_versions(system)
        if known and iv.wanted:
            raise messages.error("UNKNOWN_CODESYSTEM_VERSION_EXP", status=404, issue_code="not-found",
                                 tx_type="not-found", system=system, version=iv.wanted,
                                 versions=messages.version_list(known))
        if system not in self.unknown_systems:
            self.unknown_systems.append(system)
        if inc.get("concept") and not inc.get("filter"):
            return [Member(system, inc.get("version"), c.get("code"), c.get("display")) for c in inc["concept"]]
        if iv.wanted:
            raise messages.error("UNKNOWN_CODESYSTEM_VERSION_EXP_NONE", status=404, issue_code="not-found",
                                 tx_type="not-found", system=system, version=iv.wanted)
        raise messages.error("UNKNOWN_CODESYSTEM_EXP", status=404, issue_code="not-found", tx_type="not-found",
                             system=system, diagnostics=named_otherwise(self.ctx.store, system))

    def known_versions(self, system: str) -> list[str]:
        return sorted({v for v in self.ctx.code_system_versions(system) if v}, key=version_key)

    # -- membership -----------------------------------------------------------------
    def contains(self, vs: JSON, system: str | None, code: str, version: str | None = None,
                 prefer: Callable[[Member], bool] | None = None) -> Member | None:
        """The member of vs for system#code, or None. `version` is the coding's: an include that
        accepts it is evaluated in that version, the others are left out when one accepts it.
        Of several members (one code in several versions) the first `prefer` accepts wins, else
        the latest version. Includes of `system` visited are in `self.visited`."""
        self._enter(vs)
        try:
            compose = vs.get("compose") or {}
            if not compose and vs.get("expansion"):
                return next((m for m in self._from_expansion(vs)
                             if m.code == code and (system is None or m.system == system)), None)
            includes = compose.get("include", []) or []
            strict = version is not None and any(
                inc.get("system") == system and self.include_version(inc, vs).accepts(version) for inc in includes)
            hits: list[Member] = []
            for inc in includes:
                m = self._include_contains(inc, vs, system, code, version, strict=strict)
                if m is not None and not (m.inactive and (self.active_only or compose.get("inactive") is False)) \
                        and not self._excluded(compose, vs, m):
                    hits.append(m)
            if not hits:
                return None
            if prefer is not None and len(hits) > 1:
                hit = next((m for m in hits if prefer(m)), None)
                if hit is not None:
                    return hit
            return max(hits, key=lambda m: version_key(m.version))
        finally:
            self._stack.pop()

    def _excluded(self, compose: JSON, vs: JSON, m: Member) -> bool:
        """Is member m excluded (by the rules of `_exclude`)?"""
        for exc in compose.get("exclude", []) or []:
            x = self._include_contains(exc, vs, m.system, m.code, m.version, excluding=True)
            if x is None:
                continue
            if x.version == m.version or self.versions_match is True:
                return True
            if self.versions_match is None and not any(
                    inc.get("system") == m.system and (iv := self.include_version(inc, vs)).cs is not None
                    and iv.cs.version == x.version for inc in compose.get("include", []) or []):
                return True
        return False

    def _include_contains(self, inc: JSON, vs: JSON, system: str | None, code: str, version: str | None,
                          excluding: bool = False, strict: bool = False) -> Member | None:
        inc_system: str | None = inc.get("system")
        if inc_system and system is not None and inc_system != system:
            return None
        m: Member | None = None
        if inc_system:
            iv = self.include_version(inc, vs)
            if not excluding:
                self.visited.append(iv)
            if strict and not iv.accepts(version):
                return None
            cs = iv.cs
            if version is not None and iv.accepts(version):
                cs = self.provider(inc_system, version, vs) or cs
            if cs is None:
                label = f"{inc_system}|{iv.wanted}" if iv.wanted else inc_system
                if label not in self.unknown_systems:
                    self.unknown_systems.append(label)
                cref = concept_ref(inc.get("concept", []) or [], code)
                return Member(inc_system, iv.wanted, code, cref.get("display")) if cref is not None else None
            self.note_cs(cs)
            incfilters = inc.get("filter", []) or []
            for f in incfilters:  # a broken filter is an error whatever the code
                filters.check_filter(cs, f)
            partial = cs.content in PARTIAL_CONTENT
            concept, _ = cs.find(code)
            if concept is None:
                cref = concept_ref(inc.get("concept", []) or [], code) if partial else None
                if cref is not None:   # listed: a member, whatever the fragment says
                    return Member(inc_system, cs.version, code, cref.get("display"))
                if partial and not inc.get("concept"):
                    if excluding and not incfilters:   # all of the system is excluded, listed or not
                        return Member(inc_system, cs.version, code)
                    self._undecided(iv, cs, incfilters, excluding)
                return None
            if inc.get("concept"):
                cref = concept_ref(inc["concept"], concept.code)
                if cref is None:
                    return None
                m = enumerated_member(inc_system, cs, concept, cref)
            else:
                m = Member(inc_system, cs.version, concept.code, concept.display, concept, cs,
                           inactive=concept.inactive, abstract=concept.abstract)
            if partial:
                verdicts = [filters.matches_in_part(cs, concept, f) for f in incfilters]
                if False in verdicts:
                    return None
                if None in verdicts:
                    self._undecided(iv, cs, incfilters, excluding)
                    return None
            elif not all(filters.matches(cs, concept, f) for f in incfilters):
                return None
        for canonical in inc.get("valueSet", []) or []:
            sub = self._import(canonical, excluding)
            mark = len(self.undecided)
            sm = self.contains(sub, system if m is None else m.system, code if m is None else m.code, version)
            if excluding:   # what the imported value set could not settle leaves the exclusion open
                for u in self.undecided[mark:]:
                    u.excluding = True
            if sm is None:
                return None
            if m is None:
                m = sm
        return m

    def _undecided(self, iv: IncludeVersion, cs: Provider, incfilters: list[JSON], excluding: bool) -> None:
        self.undecided.append(Undecided(iv.system, cs.version, iv.wanted, cs.content, list(incfilters), excluding))

    def unsettled(self, member: Member | None) -> list[Undecided]:
        """What leaves a contains() answer open: for a member, the excludes it could not decide;
        for none, the includes whose filters it could not evaluate."""
        if member is not None:
            return [u for u in self.undecided if u.excluding]
        return [u for u in self.undecided if not u.excluding and u.filters]

    def open_fragment(self) -> bool:
        """Did contains() meet an include of all of a fragment that does not list the code?"""
        return any(not u.excluding and not u.filters for u in self.undecided)


def _vs_supplements(vs: JSON) -> list[str]:
    return [v for x in vs.get("extension", []) or [] if x.get("url") == VS_SUPPLEMENT
            for v in (x.get("valueCanonical") or x.get("valueUri"),) if v]


def standards_status(res: JSON) -> str | None:
    for x in res.get("extension", []) or []:
        if x.get("url") == STANDARDS_STATUS:
            code: str | None = x.get("valueCode")
            return code
    return None


def vs_default_parameters(vs: JSON) -> list[tuple[str, str, Any]]:
    """Expansion parameters a value set sets for itself (compose extension valueset-expansion-parameter):
    [(name, valueKey, value)]."""
    out: list[tuple[str, str, Any]] = []
    for x in ((vs.get("compose") or {}).get("extension", []) or []) + (vs.get("extension", []) or []):
        if x.get("url") != EXPANSION_PARAMETER:
            continue
        name, key, value = None, None, None
        for sub in x.get("extension", []) or []:
            if sub.get("url") == "name":
                name = sub.get("valueCode") or sub.get("valueString")
            elif sub.get("url") == "value":
                key = next((k for k in sub if k.startswith("value")), None)
                value = sub.get(key) if key else None
        if name and key:
            out.append((name, key, value))
    return out
