"""ValueSet.compose semantics: which concepts an include/exclude selects.

Two entry points share the rules:
- `Composer.members(vs)` enumerates a value set (for $expand and pre-expansion);
- `Composer.contains(vs, system, code)` decides membership of one code without
  expanding (for $validate-code), so validating against a filter over SNOMED CT
  costs a few indexed lookups, not an expansion.
"""
from termsvc.fhir.codesystem import CONCEPT_PROPERTIES
from termsvc.fhir.outcome import OpError, TooCostly
from termsvc import deadline
from termsvc.ops import regex
from termsvc.ops.codesystems import Concept, StoredCodeSystem
from termsvc.ops.context import split_canonical

DEFAULT_MAX_EXPANSION = 10_000


class Member:
    __slots__ = ("system", "version", "code", "display", "concept", "cs", "designations", "extensions",
                 "inactive", "abstract")

    def __init__(self, system, version, code, display=None, concept=None, cs=None):
        self.system = system
        self.version = version
        self.code = code
        self.display = display
        self.concept = concept
        self.cs = cs
        self.designations = None   # compose-level designations
        self.extensions = None
        self.inactive = concept.inactive if concept is not None else False
        self.abstract = concept.abstract if concept is not None else False


class CycleError(OpError):
    pass


class Composer:
    def __init__(self, ctx, system_versions: dict | None = None, force_versions: dict | None = None,
                 max_size: int | None = DEFAULT_MAX_EXPANSION, supplements: list | None = None,
                 active_only: bool = False, default_to_latest: bool = False):
        self.ctx = ctx
        self.system_versions = system_versions or {}
        self.force_versions = force_versions or {}
        self.max_size = max_size
        self.supplements = supplements or []
        self.active_only = active_only
        self.default_to_latest = default_to_latest
        self.used_codesystems: dict[str, object] = {}   # vurl -> provider
        self.used_valuesets: list[str] = []
        self.used_supplements: list[str] = []
        self.warnings: list[tuple] = []                # (parameter name, canonical)
        self.unknown_systems: list[str] = []
        self._stack: list[str] = []

    # -- resolution -----------------------------------------------------------------
    def code_system_for(self, system: str, version: str | None, vs: dict | None = None):
        if system in self.force_versions:
            version = self.force_versions[system]
        elif version is None and system in self.system_versions:
            version = self.system_versions[system]
        supps = []
        for canonical in self.supplements + (_vs_supplements(vs) if vs else []):
            s = self.ctx.supplement(canonical)
            if s is None:
                raise OpError(f"Required supplement not found: {canonical}", status=400, code="not-found",
                              tx_type="not-found", message_id="VALUESET_SUPPLEMENT_MISSING")
            if split_canonical(s.get("supplements"))[0] == system:
                supps.append(s)
        cs = self.ctx.code_system(system, version)
        if cs is None and version is not None and self.default_to_latest and system not in self.force_versions:
            cs = self.ctx.code_system(system)  # default-to-latest-version: the pinned version is not loaded
            if cs is not None:
                self._warn("warning-version-substituted", f"{system}|{version}")
        if cs is None:
            return None
        if supps:
            cs = cs.with_supplements(supps)
            for s in supps:
                v = f"{s['url']}|{s['version']}" if s.get("version") else s["url"]
                if v not in self.used_supplements:
                    self.used_supplements.append(v)
        return cs

    def _note_cs(self, cs):
        self.used_codesystems.setdefault(cs.vurl(), cs)
        status = cs.resource.get("status")
        if status == "draft":
            self._warn("warning-draft", cs.vurl())
        if cs.resource.get("experimental") is True:
            self._warn("warning-experimental", cs.vurl())
        if _standards_status(cs.resource) == "deprecated":
            self._warn("warning-deprecated", cs.vurl())
        if status == "retired" or _standards_status(cs.resource) == "withdrawn":
            self._warn("warning-withdrawn", cs.vurl())

    def note_vs(self, vs: dict):
        status = vs.get("status")
        vurl = _vurl(vs)
        if vurl is None:
            return
        if _standards_status(vs) == "withdrawn" or status == "retired":
            self._warn("warning-withdrawn", vurl)
        if _standards_status(vs) == "deprecated":
            self._warn("warning-deprecated", vurl)

    def _warn(self, name, canonical):
        if (name, canonical) not in self.warnings:
            self.warnings.append((name, canonical))

    def resolve_vs(self, canonical: str) -> dict:
        vs = self.ctx.value_set(canonical)
        if vs is None:
            raise OpError(f"A definition for the value Set '{canonical}' could not be found", status=404,
                          code="not-found", tx_type="not-found", message_id="Unable_to_resolve_value_Set_")
        return vs

    def check_cycles(self, vs: dict, path: tuple = ()):
        """Raise CycleError when the value set imports itself (through include or exclude)."""
        key = _vurl(vs) or id(vs)
        if key in path:
            raise CycleError(f"Cyclic reference to value set {key} (via {' -> '.join(map(str, path + (key,)))})",
                             status=400, code="processing", tx_type="vs-invalid",
                             message_id="VALUESET_CIRCULAR_REFERENCE")
        compose = vs.get("compose") or {}
        for inc in (compose.get("include", []) or []) + (compose.get("exclude", []) or []):
            for canonical in inc.get("valueSet", []) or []:
                sub = self.ctx.value_set(canonical)
                if sub is not None:
                    self.check_cycles(sub, path + (key,))

    # -- enumeration ----------------------------------------------------------------
    def members(self, vs: dict) -> list[Member]:
        key = _vurl(vs) or id(vs)
        if key in self._stack:
            raise CycleError(f"Cyclic reference to value set {key} (via {' -> '.join(map(str, self._stack))})",
                             status=400, code="processing", tx_type="vs-invalid",
                             message_id="VALUESET_CIRCULAR_REFERENCE")
        self._stack.append(key)
        try:
            compose = vs.get("compose") or {}
            if not compose and vs.get("expansion"):
                return self._from_expansion(vs)
            out: dict = {}
            for inc in compose.get("include", []) or []:
                for m in deadline.bounded(self._include(inc, vs)):
                    k = (m.system, m.code)
                    if k not in out:
                        out[k] = m
                        if self.max_size and len(out) > self.max_size:
                            raise TooCostly(f"The value set {_vurl(vs)} has more than {self.max_size} codes;"
                                            " use count/offset paging or a filter")
            for exc in compose.get("exclude", []) or []:
                if not out:
                    break
                for m in self._include(exc, vs, excluding=True):
                    out.pop((m.system, m.code), None)
            members = list(out.values())
            if self.active_only or compose.get("inactive") is False:
                members = [m for m in members if not m.inactive]
            return members
        finally:
            self._stack.pop()

    def _from_expansion(self, vs):
        out = []

        def walk(contains):
            for c in contains or []:
                if c.get("code") is not None:
                    m = Member(c.get("system"), c.get("version"), c["code"], c.get("display"))
                    m.inactive = bool(c.get("inactive"))
                    m.abstract = bool(c.get("abstract"))
                    out.append(m)
                walk(c.get("contains"))
        walk((vs.get("expansion") or {}).get("contains"))
        return out

    def _include(self, inc: dict, vs: dict, excluding: bool = False) -> list[Member]:
        system = inc.get("system")
        vs_sets = None
        if inc.get("valueSet"):
            vs_sets = []
            for canonical in inc["valueSet"]:
                sub = self.resolve_vs(canonical)
                if not excluding and not canonical.startswith("#"):
                    self.used_valuesets.append(_vurl(sub))
                self.note_vs(sub)
                vs_sets.append({(m.system, m.code): m for m in self.members(sub)})
        if not system:
            if vs_sets is None:
                return []
            first = vs_sets[0]
            return [m for k, m in first.items() if all(k in s for s in vs_sets[1:])]
        cs = self.code_system_for(system, inc.get("version"), vs)
        if cs is None:
            return self._unknown_system_include(inc, system)
        if cs.content == "supplement":
            raise OpError(f"The code system {system} is a supplement and cannot be used in a value set")
        if not excluding:
            self._note_cs(cs)
        result = []
        if inc.get("concept"):
            for cref in inc["concept"]:
                concept = cs.locate(cref.get("code"))
                if concept is None:
                    if cs.content == "fragment" and cref.get("code"):  # not known here, not invalid either
                        result.append(Member(system, cs.version, cref["code"], cref.get("display")))
                    continue
                if inc.get("filter") and not all(self.filter_matches(cs, concept, f) for f in inc["filter"]):
                    continue
                m = Member(system, cs.version, concept.code, cref.get("display") or concept.display, concept, cs)
                if cref.get("designation"):
                    m.designations = cref["designation"]
                if cref.get("extension"):
                    m.extensions = cref["extension"]
                result.append(m)
        elif inc.get("filter"):
            result = [Member(system, cs.version, c.code, c.display, c, cs) for c in self.filter_select(cs, inc["filter"])]
        else:
            if cs.content in ("not-present",):
                raise OpError(f"The code system {cs.vurl()} has no content (content = not-present) and cannot be"
                              " expanded", status=422, code="too-costly")
            if self.max_size and cs.size() > self.max_size and not excluding:
                raise TooCostly(f"The code system {cs.vurl()} has {cs.size()} codes, more than the limit of"
                                f" {self.max_size} for an expansion without paging")
            result = [Member(system, cs.version, c.code, c.display, c, cs) for c in cs.iter_all()]
        if vs_sets is not None:
            result = [m for m in result if all((m.system, m.code) in s for s in vs_sets)]
        return result

    def _unknown_system_include(self, inc, system):
        if system not in self.unknown_systems:
            self.unknown_systems.append(system)
        if inc.get("concept") and not inc.get("filter"):
            return [Member(system, inc.get("version"), c.get("code"), c.get("display")) for c in inc["concept"]]
        version = inc.get("version")
        raise OpError(f"A definition for CodeSystem '{system}'{' version ' + repr(version) if version else ''}"
                      " could not be found, so the value set cannot be expanded", status=404, code="not-found",
                      tx_type="not-found", message_id="UNKNOWN_CODESYSTEM_EXP")

    # -- filters --------------------------------------------------------------------
    def check_filter(self, cs, f):
        prop, op, value = f.get("property"), f.get("op"), f.get("value")
        if value is None or value == "":
            raise OpError(f"The system {cs.url} filter with property = {prop}, op = {op} has no value",
                          status=400, code="invalid", tx_type="vs-invalid",
                          message_id="UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE")
        if op is None:
            raise OpError(f"The system {cs.url} filter with property = {prop} has no operation", status=400)
        if op == "regex":
            regex.compile_filter(value, prop, cs.url)

    def filter_select(self, cs, filters: list) -> list[Concept]:
        for f in filters:
            self.check_filter(cs, f)
        first, rest = filters[0], filters[1:]
        candidates = self._select_one(cs, first)
        return [c for c in candidates if all(self.filter_matches(cs, c, f) for f in rest)]

    def _select_one(self, cs, f) -> list:
        prop, op, value = f.get("property"), f.get("op"), f.get("value")
        if _is_concept_prop(cs, prop):
            if op == "is-a":
                root = cs.locate(value)
                return ([root] if root else []) + cs.descendants(value)
            if op == "descendent-of":
                return cs.descendants(value)
            if op == "child-of":
                root = cs.locate(value)
                return list(cs.children(root)) if root else []
            if op == "descendent-leaf":
                return [c for c in cs.descendants(value) if not cs.children(c)]
            if op == "generalizes":
                c = cs.locate(value)
                return [x for x in cs.iter_all() if c and (x.code == value or cs.is_ancestor(x.code, value))]
        if prop == "constraint" and isinstance(cs, StoredCodeSystem):
            from termsvc.ops import ecl
            ids = ecl.evaluate(cs.store.conn(), cs.cs_id, value)
            return [c for c in cs.iter_all() if c.cid in ids]
        if op == "in" and _is_concept_prop(cs, prop) and isinstance(cs, StoredCodeSystem):
            codes = [v.strip() for v in value.split(",")]
            rows = cs.store.all("SELECT DISTINCT concept_id FROM refset_member WHERE cs_id=? AND refset IN (%s)"
                                % ",".join("?" * len(codes)), (cs.cs_id, *codes))
            if rows:
                ids = {r[0] for r in rows}
                return [c for c in cs.iter_all() if c.cid in ids]
        if isinstance(cs, StoredCodeSystem) and cs.size() > (self.max_size or 10 ** 9) * 20:
            raise TooCostly(f"The filter {prop} {op} {value} over {cs.vurl()} cannot be evaluated"
                            " within the cost limit")
        return [c for c in cs.iter_all() if self.filter_matches(cs, c, f)]

    def filter_matches(self, cs, c: Concept, f: dict) -> bool:
        prop, op, value = f.get("property"), f.get("op"), f.get("value")
        if value is None:
            self.check_filter(cs, f)
        if _is_concept_prop(cs, prop):
            if op == "is-a":
                return c.code == value or cs.is_ancestor(value, c.code)
            if op == "descendent-of":
                return cs.is_ancestor(value, c.code)
            if op == "is-not-a":
                return not (c.code == value or cs.is_ancestor(value, c.code))
            if op == "generalizes":
                return c.code == value or cs.is_ancestor(c.code, value)
            if op == "child-of":
                return value in cs.parent_codes(c)
            if op == "descendent-leaf":
                return cs.is_ancestor(value, c.code) and not cs.children(c)
            if op == "in":
                codes = [v.strip() for v in value.split(",")]
                if c.code in codes:
                    return True
                if isinstance(cs, StoredCodeSystem):
                    return cs.store.one("SELECT 1 FROM refset_member WHERE concept_id=? AND refset IN (%s)"
                                        % ",".join("?" * len(codes)), (c.cid, *codes)) is not None
                return False
            if op == "not-in":
                return c.code not in [v.strip() for v in value.split(",")]
            if op == "regex":
                return regex.fullmatch(regex.compile_filter(value, prop, cs.url), c.code)
            if op == "=":
                return c.code == value
            raise OpError(f"The filter operation '{op}' is not supported for the property '{prop}' of {cs.url}",
                          tx_type="vs-invalid")
        if prop == "constraint":
            if isinstance(cs, StoredCodeSystem):
                from termsvc.ops import ecl
                return c.cid in ecl.evaluate(cs.store.conn(), cs.cs_id, value)
            raise OpError(f"ECL constraints are only supported for stored SNOMED CT content, not {cs.url}")
        values = concept_property_values(cs, c, prop)
        if op == "exists":
            return bool(values) == (str(value).lower() == "true")
        if op == "=":
            return any(v == value for v in values)
        if op == "in":
            wanted = {v.strip() for v in value.split(",")}
            return any(v in wanted for v in values)
        if op == "not-in":
            wanted = {v.strip() for v in value.split(",")}
            return not any(v in wanted for v in values)
        if op == "regex":
            compiled = regex.compile_filter(value, prop, cs.url)
            return any(regex.fullmatch(compiled, v) for v in values)
        if op in ("is-a", "descendent-of", "generalizes", "is-not-a", "child-of"):
            ok = any(v == value or cs.is_ancestor(value, v) for v in values)
            return (not ok) if op == "is-not-a" else ok
        raise OpError(f"The filter operation '{op}' is not supported for the property '{prop}' of {cs.url}",
                      tx_type="vs-invalid")

    # -- membership -----------------------------------------------------------------
    def contains(self, vs: dict, system: str | None, code: str, version: str | None = None):
        """Is system#code in vs? Returns (member_or_None, cs_or_None). Raises for broken definitions."""
        key = _vurl(vs) or id(vs)
        if key in self._stack:
            raise CycleError(f"Cyclic reference to value set {key}", status=400, code="processing",
                             tx_type="vs-invalid", message_id="VALUESET_CIRCULAR_REFERENCE")
        self._stack.append(key)
        try:
            compose = vs.get("compose") or {}
            if not compose and vs.get("expansion"):
                for m in self._from_expansion(vs):
                    if m.code == code and (system is None or m.system == system):
                        return m, None
                return None, None
            hit = None
            for inc in compose.get("include", []) or []:
                m = self._include_contains(inc, vs, system, code, version)
                if m is not None:
                    hit = m
                    break
            if hit is None:
                return None, None
            if hit.inactive and (self.active_only or compose.get("inactive") is False):
                return None, None
            for exc in compose.get("exclude", []) or []:
                if self._include_contains(exc, vs, hit.system, hit.code, version, excluding=True) is not None:
                    return None, None
            return hit, hit.cs
        finally:
            self._stack.pop()

    def _include_contains(self, inc, vs, system, code, version, excluding=False):
        inc_system = inc.get("system")
        if inc_system and system is not None and inc_system != system:
            return None
        m = None
        if inc_system:
            wanted = inc.get("version") or version
            cs = self.code_system_for(inc_system, wanted, vs)
            if cs is None:
                label = f"{inc_system}|{wanted}" if wanted else inc_system
                if label not in self.unknown_systems:
                    self.unknown_systems.append(label)
                for cref in inc.get("concept", []) or []:
                    if cref.get("code") == code:
                        return Member(inc_system, inc.get("version"), code, cref.get("display"))
                return None
            if not excluding:
                self._note_cs(cs)
            for f in inc.get("filter", []) or []:  # a broken filter is an error whatever the code
                self.check_filter(cs, f)
            concept, _ = cs.find(code)
            if concept is None:
                if cs.content == "fragment" and any(c.get("code") == code for c in inc.get("concept", []) or []):
                    cref = next(c for c in inc["concept"] if c.get("code") == code)
                    return Member(inc_system, cs.version, code, cref.get("display"))
                return None
            if inc.get("concept"):
                cref = _concept_ref(inc["concept"], concept.code)
                if cref is None:
                    return None
                m = Member(inc_system, cs.version, concept.code, cref.get("display") or concept.display, concept, cs)
                if cref.get("designation"):
                    m.designations = cref["designation"]
                if cref.get("extension"):
                    m.extensions = cref["extension"]
            else:
                m = Member(inc_system, cs.version, concept.code, concept.display, concept, cs)
            for f in inc.get("filter", []) or []:
                if not self.filter_matches(cs, concept, f):
                    return None
        for canonical in inc.get("valueSet", []) or []:
            sub = self.resolve_vs(canonical)
            if not excluding and _vurl(sub) not in self.used_valuesets:
                self.used_valuesets.append(_vurl(sub))
                self.note_vs(sub)
            sm, scs = self.contains(sub, system if m is None else m.system, code if m is None else m.code, version)
            if sm is None:
                return None
            if m is None:
                m = sm
        return m


_CREF_INDEX: dict = {}   # id(include.concept list) -> (the list, {code: first entry})


def _concept_ref(crefs: list, code: str):
    """The first entry of an include's concept list with this code. Long lists (DICOM CIDs, large
    enumerated value sets) are indexed once; the index holds the list, so its id stays unique."""
    if len(crefs) < 16:
        return next((x for x in crefs if x.get("code") == code), None)
    hit = _CREF_INDEX.get(id(crefs))
    if hit is None or hit[0] is not crefs:
        index = {}
        for x in crefs:
            index.setdefault(x.get("code"), x)
        if len(_CREF_INDEX) > 2000:
            _CREF_INDEX.clear()
        hit = _CREF_INDEX[id(crefs)] = (crefs, index)
    return hit[1].get(code)


def concept_property_values(cs, c: Concept, prop: str) -> list[str]:
    """A concept's values of a property, as strings (also the implicit ones: status, inactive...)."""
    defs = {d.get("code"): d for d in cs.property_defs}
    uri_name = None
    d = defs.get(prop)
    if d and (d.get("uri") or "").startswith(CONCEPT_PROPERTIES):
        uri_name = d["uri"][len(CONCEPT_PROPERTIES):]
    out = []
    for code, key, value in cs.properties(c):
        if code == prop:
            if isinstance(value, bool):
                out.append("true" if value else "false")
            elif isinstance(value, dict):
                out.append(value.get("code", ""))
            elif value is not None:
                out.append(str(value))
    name = uri_name or prop
    if not out:
        if name == "display":
            out = [c.display] if c.display else []
        elif name == "status" and c.status:
            out = [c.status]
        elif name == "inactive":
            out = ["true" if c.inactive else "false"]
        elif name == "notSelectable" and prop not in defs and c.abstract:
            out = ["true"]
        elif name == "parent":
            out = cs.parent_codes(c)
        elif name == "child":
            out = [x.code for x in cs.children(c)]
    return out


def _is_concept_prop(cs, prop) -> bool:
    return prop in ("concept", "code")


def _vs_supplements(vs: dict) -> list:
    out = []
    for x in vs.get("extension", []) or []:
        if x.get("url") == "http://hl7.org/fhir/StructureDefinition/valueset-supplement":
            v = x.get("valueCanonical") or x.get("valueUri")
            if v:
                out.append(v)
    return out


def _standards_status(res: dict):
    for x in res.get("extension", []) or []:
        if x.get("url") == "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status":
            return x.get("valueCode")
    return None


def _vurl(vs: dict):
    if not vs.get("url"):
        return None
    return f"{vs['url']}|{vs['version']}" if vs.get("version") else vs["url"]


EXPANSION_PARAMETER_EXT = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def vs_default_parameters(vs: dict) -> list[tuple]:
    """Expansion parameters a value set sets for itself (compose extension valueset-expansion-parameter):
    [(name, valueKey, value)]."""
    out = []
    for x in ((vs.get("compose") or {}).get("extension", []) or []) + (vs.get("extension", []) or []):
        if x.get("url") != EXPANSION_PARAMETER_EXT:
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


def canonical_versions(values) -> dict:
    """{url: version} from `url|version` parameters (system-version and its kin)."""
    out = {}
    for v in values:
        if isinstance(v, str) and "|" in v:
            u, ver = split_canonical(v)
            out[u] = ver
    return out
