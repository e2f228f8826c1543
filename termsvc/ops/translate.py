"""ConceptMap/$translate, R5 and R4 flavours, forward and reverse.

Stored maps are found through the `cm_entry` index (source or target code -> map, group, element,
target). Each map is compiled once (`_Map`): its groups' elements by source code, each target's Coding,
R4 equivalence and comments made ready, so that a request only looks up and copies. Stored maps are
compiled once per build (with the maps that can answer for a code and the maps by url, in `_StoredMaps`);
maps sent with a request are compiled for it.
"""
from dataclasses import dataclass
from typing import Any

from termsvc import deadline
from termsvc.fhir.conceptmap_match import EXT_SOURCE_CASE_INSENSITIVE, case_insensitive, fold
from termsvc.fhir.convert import EXT_NOMAP_COMMENT, r4_equivalence, to_r5
from termsvc.fhir import messages
from termsvc.fhir.shape import check_codeable_concept, check_coding, check_resource
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Param, Params
from termsvc.fhir.render.translation import with_wire
from termsvc.ops.context import Context, canonical_label, split_canonical, vurl
from termsvc.ops.dependencies import Dependency, DependsOn, dependencies, unmet_note
from termsvc.ops.identifiers import input_error
from termsvc.ops.per_build import PerBuild
from termsvc.ops.systems import named_otherwise
from termsvc.ops.validate import validate_vs
from termsvc.results import JSON, Match, Translation
from termsvc.store.queries import Queries

MAX_CHAIN = 10


# parameter name -> (what it says, 0: the R5 spelling, 1: the R4 one); where both are given, the R5 one
# unless it is empty (`sourceCode or code`)
_SAYS = {"sourceCoding": ("coding", 0), "coding": ("coding", 1),
         "sourceCodeableConcept": ("cc", 0), "codeableConcept": ("cc", 1),
         "sourceCode": ("code", 0), "code": ("code", 1),
         "sourceSystem": ("system", 0), "system": ("system", 1),
         "sourceVersion": ("version", 0), "version": ("version", 1),
         "targetSystem": ("target_system", 0), "targetsystem": ("target_system", 1),
         "sourceScope": ("source_scope", 0), "source": ("source_scope", 1),
         "targetScope": ("target_scope", 0), "target": ("target_scope", 1),
         "targetCoding": ("tcoding", 0), "targetCodeableConcept": ("tcc", 0), "targetCode": ("tcode", 0),
         "url": ("url", 0), "conceptMapVersion": ("map_version", 0), "conceptMap": ("concept_map", 0),
         "reverse": ("reverse", 0)}
_TEXT = frozenset({"code", "system", "version", "target_system", "source_scope", "target_scope", "tcode", "url",
                   "map_version"})   # simple values, read as text


@dataclass(slots=True)
class TranslateRequest:
    """The concept to translate and the constraints, from R5 or R4 parameter names.

    Both endpoints accept both spellings (R5 sourceCode/sourceCoding/targetCode...,
    R4 code/coding/targetsystem...); only R4 takes `reverse`."""
    r4: bool
    reverse: bool
    codings: list[JSON]
    url: str | None
    map_version: str | None
    concept_map: JSON | None            # the map itself, sent with the request
    target_system: str | None
    source_scope: str | None
    target_scope: str | None
    source_system_filter: str | None
    dependencies: tuple[Dependency, ...] = ()   # what else the client knows (ops/dependencies.py)

    @classmethod
    def of(cls, params: Params, r4: bool) -> "TranslateRequest":
        says: dict[str, Any] = {}   # what the request says (_SAYS), only what it says
        not_text = False
        for name, p in params.firsts().items():
            meaning = _SAYS.get(name)
            if meaning is None:
                continue
            value = p.resource if p.resource is not None else p.value
            if value is None or value == "":
                continue
            what, spelling = meaning
            if what not in says or (value if spelling == 0 else not says[what]):
                says[what] = value
                not_text = not_text or value.__class__ is not str
        if not_text:   # (a Parameters body may give a simple value as a number or a boolean)
            for what, value in says.items():
                if what in _TEXT:
                    says[what] = _text(value)
        get = says.get
        if "reverse" in says and not r4:
            raise messages.error("translate-reverse-r5", issue_code="not-supported")
        coding, cc, code, system = get("coding"), get("cc"), get("code"), get("system")
        target_system = get("target_system")
        source_system_filter = None
        reverse = r4 and "reverse" in says and params.bool("reverse")
        tcoding, tcc, tcode = get("tcoding"), get("tcc"), get("tcode")
        if tcode is not None or isinstance(tcoding, dict) or isinstance(tcc, dict):
            reverse = True
            coding, cc, code = tcoding, tcc, tcode
            source_system_filter = system
            system = target_system if tcode is not None else None
        elif reverse:  # R4 reverse: the input concept is a target; targetsystem names the source side
            source_system_filter = target_system
        codings: list[JSON] = []
        if cc is not None:
            codings = [c for c in check_codeable_concept(cc).get("coding", []) or [] if c.get("code")]
        elif coding is not None:
            codings = [coding] if check_coding(coding).get("code") else []
        elif code is not None:
            version = get("version")
            codings = [{"system": system, "code": code, "version": version} if version else
                       {"system": system, "code": code}]
        if not codings:
            raise messages.error("translate-nothing", issue_code="required")
        sent = get("concept_map")
        return cls(r4, reverse, codings, get("url"), get("map_version"),
                   None if sent is None else to_r5(check_resource(sent, "conceptMap")), target_system,
                   get("source_scope"), get("target_scope"), source_system_filter,
                   dependencies(params) if params.has("dependency") else ())


def _text(value: object) -> str | None:
    """A simple parameter value as text (a query string gives text; a Parameters body may not)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        raise messages.error("simple-value")
    return str(value).lower() if isinstance(value, bool) else str(value)


def _scope_url(cm: JSON, key: str) -> str | None:
    have = cm.get(key + "Uri") or cm.get(key + "Canonical")
    return split_canonical(have)[0] if have is not None else None


# -- the maps, compiled: a group's elements by source code, each target's answer made once ----------

def _target_matches(t: JSON, target_system: str | None, origin: str | None, element_comment: str | None
                    ) -> tuple[Match, Match]:
    """The matches a target of an element says, on the R5 endpoint and on the R4 one (with its R4
    equivalence), each with its rendering made ready (fhir/render/translation)."""
    relationship = t.get("relationship", "related-to")
    concept = _coding(target_system, t.get("code"), t.get("display"))
    depends_on, product = t.get("dependsOn") or [], t.get("product") or []
    comments = [t["comment"]] if t.get("comment") else []
    if element_comment:
        comments.append(element_comment)
    r5 = Match(relationship, concept, origin, None, depends_on, product, None, comments)
    r4 = Match(relationship, concept, origin, r4_equivalence(t or {"relationship": relationship}), depends_on,
               product, None, comments)
    return with_wire(r5), with_wire(r4)


@dataclass(slots=True)
class _Element:
    """An element of a group: its targets' matches, or that it maps to nothing (noMap, with the comment why)."""
    no_map: bool
    no_map_comment: str | None
    # the matches of its targets, made once and shared (read-only): [0] on the R5 endpoint, [1] on the R4 one
    matches: tuple[list[Match], list[Match]]

    @classmethod
    def of(cls, e: JSON, target_system: str | None, origin: str | None) -> "_Element":
        if e.get("noMap"):
            return cls(True, next((x.get("valueString") for x in e.get("extension", []) or []
                                   if x.get("url") == EXT_NOMAP_COMMENT), None), ([], []))
        r5, r4 = [], []
        for t in e.get("target", []) or []:
            m5, m4 = _target_matches(t, target_system, origin, e.get("comment"))
            r5.append(m5)
            r4.append(m4)
        return cls(False, None, (r5, r4))


@dataclass(slots=True)
class _Group:
    group: JSON
    source: str | None
    target: str | None
    version: str | None
    folded: bool                        # matches source codes ignoring case: by_source is keyed folded
    unmapped: JSON | None
    by_source: dict[str, list[_Element]]   # source code -> [_Element], in document order
    _by_target: dict[str | None, list[tuple[JSON, JSON]]] | None = None

    @classmethod
    def of(cls, g: JSON, origin: str | None) -> "_Group":
        target, folded = _group_system(g, "target"), case_insensitive(g)
        by_source: dict[str, list[_Element]] = {}
        for e in g.get("element", []) or []:
            code = e.get("code") or ""
            by_source.setdefault(fold(code) if folded else code, []).append(_Element.of(e, target, origin))
        return cls(g, _group_system(g, "source"), target, _group_version(g), folded, g.get("unmapped"), by_source)

    def by_target(self) -> dict[str | None, list[tuple[JSON, JSON]]]:
        """The group's targets by target code (code -> [(element, target)]), made when first asked."""
        if self._by_target is None:
            index: dict[str | None, list[tuple[JSON, JSON]]] = {}
            for e in self.group.get("element", []) or []:
                for t in e.get("target", []) or []:
                    index.setdefault(t.get("code"), []).append((e, t))
            self._by_target = index
        return self._by_target


@dataclass(slots=True)
class _Map:
    """A ConceptMap as $translate reads it."""
    cm: JSON
    vurl: str | None
    source_scope: str | None
    target_scope: str | None
    groups: list[_Group]
    sourceless: list[_Group]                 # the groups that name no source system
    from_system: dict[str, list[_Group]]     # source system -> the groups that can map from it (in order)

    @classmethod
    def of(cls, cm: JSON) -> "_Map":
        origin = vurl(cm)
        groups = [_Group.of(g, origin) for g in cm.get("group", []) or []]
        from_system = {s: [g for g in groups if not g.source or g.source == s] for s in {g.source for g in groups}
                       if s}
        return cls(cm, origin, _scope_url(cm, "sourceScope"), _scope_url(cm, "targetScope"), groups,
                   [g for g in groups if not g.source], from_system)


_REQUEST_MAPS: dict[int, tuple[JSON, _Map]] = {}   # id(a map sent with a request) -> (the map, _Map); a cache-id sends it again


def _compiled(cm: JSON) -> _Map:
    hit = _REQUEST_MAPS.get(id(cm))
    if hit is None or hit[0] is not cm:
        if len(_REQUEST_MAPS) > 64:
            _REQUEST_MAPS.clear()
        hit = _REQUEST_MAPS[id(cm)] = (cm, _Map.of(cm))
    return hit[1]


class _StoredMaps:
    """Per build: the stored ConceptMaps compiled, the maps that can answer for a code, the maps by url."""
    MAX_KEYS = 100_000

    def __init__(self, store: Queries):
        # does any map have a group that matches source codes ignoring case (indexed folded)?
        self.folded = store.one("SELECT 1 FROM resource WHERE type='ConceptMap' AND json LIKE ? LIMIT 1",
                                (f"%{EXT_SOURCE_CASE_INSENSITIVE}%",)) is not None
        self.maps: dict[int, _Map] = {}
        self.by_code: dict[tuple[bool, str | None, str], list[_Map]] = {}
        self.named: dict[tuple[str, str | None], _Map | None] = {}

    def map(self, ctx: Context, cm_id: int) -> _Map:
        hit = self.maps.get(cm_id)
        if hit is None:
            hit = self.maps[cm_id] = _Map.of(ctx.stored_concept_map(cm_id))
        return hit

    def candidates(self, ctx: Context, reverse: bool, system: str | None, code: str) -> list[_Map]:
        """The stored maps that can answer for a code (source code, or target code in reverse), compiled;
        kept per key (shared: read, never changed)."""
        key = (reverse, system, code)
        hit = self.by_code.get(key)
        if hit is None:
            store = ctx.store
            assert store is not None
            ids = stored_map_ids(store, reverse, system, code)
            if not reverse and self.folded:   # groups ignoring case index their codes folded
                folded = fold(code)
                if folded != code:
                    ids = list(dict.fromkeys(ids + stored_map_ids(store, False, system, folded)))
            if len(self.by_code) >= self.MAX_KEYS:
                self.by_code.clear()
            hit = self.by_code[key] = [self.map(ctx, cm_id) for cm_id in ids]
        return hit


_STORED = PerBuild(_StoredMaps)


def _map(ctx: Context, canonical: str, version: str | None = None) -> _Map | None:
    """The map a canonical names (a request's first, else the store's), compiled."""
    if ctx.store is None or (ctx.tx and ("ConceptMap", split_canonical(canonical)[0]) in ctx.tx):
        cm = ctx.concept_map(canonical, version)
        return None if cm is None else _compiled(cm) if "_store_id" not in cm or ctx.store is None else \
            _STORED.get(ctx.store).map(ctx, cm["_store_id"])
    stored = _STORED.get(ctx.store)
    key = (canonical, version)
    if key not in stored.named:
        if len(stored.named) >= stored.MAX_KEYS:
            stored.named.clear()
        cm = ctx.concept_map(canonical, version)
        stored.named[key] = None if cm is None else stored.map(ctx, cm["_store_id"])
    return stored.named[key]


def _candidate_maps(ctx: Context, req: TranslateRequest, coding: JSON) -> list[_Map]:
    if req.concept_map is not None:
        return [_compiled(req.concept_map)]
    if req.url:
        m = _map(ctx, req.url, req.map_version)
        if m is None:
            raise messages.error("concept-map-not-found", status=404, issue_code="not-found", tx_type="not-found",
                                 url=req.url)
        return [m]
    maps = [_compiled(cm) for cm in ctx.request_concept_maps()] if ctx.tx else []
    if ctx.store is not None:
        stored = _STORED.get(ctx.store).candidates(ctx, req.reverse, coding.get("system"), coding["code"])
        if maps:
            seen = {m.vurl for m in maps}
            maps += [m for m in stored if m.vurl not in seen]
        else:
            maps = stored
    if req.source_scope or req.target_scope:
        return [m for m in maps if _scope_ok(m.source_scope, req.source_scope)
                and _scope_ok(m.target_scope, req.target_scope)]
    return maps


def _scope_ok(have: str | None, want: str | None) -> bool:
    return not want or (have is not None and have == split_canonical(want)[0])


# the maps that can answer for a code
_FORWARD = ("SELECT cm_id FROM cm_entry WHERE source_code=?1 AND source_system=?2"
            " UNION SELECT cm_id FROM cm_entry WHERE source_system=?2 AND target_idx=-2")
_FORWARD_ANY = "SELECT DISTINCT cm_id FROM cm_entry WHERE source_code=?1"
_REVERSE = "SELECT DISTINCT cm_id FROM cm_entry WHERE target_code=?1 AND target_system=?2"
_REVERSE_ANY = "SELECT DISTINCT cm_id FROM cm_entry WHERE target_code=?1"


def stored_map_ids(store: Queries, reverse: bool, system: str | None, code: str) -> list[int]:
    sql = (_REVERSE if system else _REVERSE_ANY) if reverse else (_FORWARD if system else _FORWARD_ANY)
    return [r[0] for r in store.all(sql, (code, system) if system else (code,))]


def _coding(system: str | None, code: str | None, display: str | None = None, version: str | None = None) -> JSON:
    c: JSON = {}
    if system:
        c["system"] = system
    if version:
        c["version"] = version
    c["code"] = code
    if display:
        c["display"] = display
    return c


def translate(ctx: Context, params: Params, r4: bool = False, instance_id: str | None = None) -> Translation:
    """ConceptMap/$translate (with the map whose id is `instance_id`, when given); `r4`: asked on the R4
    endpoint (its parameter names, `reverse`, and the R4 equivalence of each match)."""
    instance_url = None if instance_id is None else ctx.instance_url("ConceptMap", instance_id)
    req = TranslateRequest.of(params, r4)
    if instance_url:
        req.url = instance_url
    matches: list[Match] = []
    notes: list[str] = []
    for coding in req.codings:
        malformed = input_error(ctx, coding.get("system"), coding.get("code"))
        if malformed is not None:
            raise malformed
        for m in _candidate_maps(ctx, req, coding):
            deadline.check()
            if req.reverse:
                matches += _reverse(ctx, req, m, coding, notes)
            else:
                matches += _forward(ctx, req, m, coding, [], notes)
    for match in matches:
        if match.positive:
            return Translation(True, matches)
    c = req.codings[0]
    notes.insert(0, messages.text("no-translation", system=c.get("system") or "", code=c.get("code"),
                                  to=f" to {req.target_system}" if req.target_system else ""))
    if c.get("system") and not matches and (misnamed := named_otherwise(ctx.store, c["system"])):
        notes.append(misnamed)   # (a known code system named by its OID, ...)
    return Translation(False, matches, "; ".join(notes))


def _forward(ctx: Context, req: TranslateRequest, m: _Map, coding: JSON, chain: list[str],
             notes: list[str]) -> list[Match]:
    out: list[Match] = []
    system, code = coding.get("system"), coding["code"]   # (a coding to translate has its code)
    for g in _groups(m, system, req.target_system, coding.get("version")):
        elements = g.by_source.get(fold(code) if g.folded else code)
        if elements:
            for e in elements:
                if e.no_map:
                    comment = e.no_map_comment
                    if req.r4:
                        out.append(Match("not-related-to", None, m.vurl, "unmatched", [], [], None,
                                         [comment] if comment else []))
                    else:
                        notes.append(messages.text("not-mapped", system=system, code=code, map=m.vurl,
                                                   comment=f": {comment}" if comment else ""))
                    continue
                out += e.matches[req.r4] if not req.dependencies else \
                    _meeting(ctx, req, m, e.matches[req.r4], system, code, notes)
        elif g.unmapped and (not system or g.source == system):
            out += _unmapped(ctx, req, m, g, coding, chain, notes)
    return out


def _groups(m: _Map, source_system: str | None, target_system: str | None, source_version: str | None = None
            ) -> list[_Group]:
    """The groups that can map between these systems (and from this version of the source system, when
    the group names one); the map's own list when only the source system narrows it (read, never changed)."""
    groups = m.from_system.get(source_system, m.sourceless) if source_system else m.groups
    if target_system or source_version:
        return [g for g in groups if (not target_system or not g.target or g.target == target_system)
                and (not source_version or g.version in (None, source_version))]
    return groups


def _group_system(g: JSON, key: str) -> str | None:
    return split_canonical(g.get(key))[0] if g.get(key) else None


def _group_version(g: JSON) -> str | None:
    """The version of its source system a group maps from: R5 `source` as canonical|version (R4
    sourceVersion, kept by the conversion to R5), or None."""
    return split_canonical(g.get("source"))[1] if g.get("source") else None


def _match(req: TranslateRequest, m: _Map, target_coding: JSON, relationship: str) -> Match:
    """A translation by a group's `unmapped` (on the R4 endpoint with the standard R4 equivalence)."""
    return Match(relationship, target_coding, m.vurl,
                 r4_equivalence({"relationship": relationship}) if req.r4 else None)


def _unmapped(ctx: Context, req: TranslateRequest, m: _Map, g: _Group, coding: JSON, chain: list[str],
              notes: list[str]) -> list[Match]:
    um = g.unmapped
    assert um is not None   # (asked of a group that has one)
    mode = um.get("mode")
    rel = um.get("relationship", "related-to" if mode != "use-source-code" else "equivalent")
    if mode == "fixed":
        return [_match(req, m, _coding(g.target, um.get("code"), um.get("display")), rel)]
    if mode == "use-source-code":
        return [_match(req, m, _coding(g.target or coding.get("system"), coding.get("code"), coding.get("display")),
                       rel)]
    if mode == "other-map" and um.get("otherMap"):
        key = um["otherMap"]
        label = canonical_label(m.cm)   # (a map sent without a url is named by what it has)
        if key in chain or label in chain or len(chain) > MAX_CHAIN:
            notes.append(messages.text("other-map-cycle", chain=" -> ".join(chain + [label, key])))
            return []
        other = _map(ctx, key)
        if other is None:
            notes.append(messages.text("other-map-missing", url=key, map=m.vurl))
            return []
        return _forward(ctx, req, other, coding, chain + [label], notes)
    return []


def _reverse(ctx: Context, req: TranslateRequest, m: _Map, coding: JSON, notes: list[str]) -> list[Match]:
    out: list[Match] = []
    system, code = coding.get("system"), coding.get("code")
    for g in _groups(m, req.source_system_filter, system):
        for e, t in g.by_target().get(code, ()):
            relationship = t.get("relationship", "related-to")
            out.append(Match(relationship, _coding(g.target, t.get("code"), t.get("display")), m.vurl,
                             r4_equivalence(t or {"relationship": relationship}) if req.r4 else None,
                             t.get("dependsOn") or [], t.get("product") or [],
                             _coding(g.source, e.get("code"), e.get("display")),
                             [t["comment"]] if t.get("comment") else []))
    return out if not req.dependencies else _meeting(ctx, req, m, out, system, code, notes)


def _meeting(ctx: Context, req: TranslateRequest, m: _Map, matches: list[Match], system: str | None,
             code: str | None, notes: list[str]) -> list[Match]:
    """The matches whose dependsOn the request's dependencies do not contradict (a note for the others)."""
    unmet: list[str] = []
    kept = DependsOn(req.dependencies, m.cm, lambda url, s, c: _in_value_set(ctx, url, s, c)).kept(matches, unmet)
    if unmet:
        notes.append(unmet_note(system, code, m.vurl, unmet))
    return kept


def _in_value_set(ctx: Context, url: str, system: str, code: str) -> bool | None:
    """Is system#code in the value set `url` (None: cannot be judged, the value set unknown included)?"""
    try:
        return validate_vs(ctx, Params([Param("url", "valueUri", url), Param("system", "valueUri", system),
                                        Param("code", "valueCode", code)])).in_value_set
    except OpError:
        return None
